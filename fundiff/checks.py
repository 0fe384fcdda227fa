"""Argument checks shared by the package's commands and loaders (where checks live: README, "For
instructors and developers").

The argparse ``type=`` helpers (:func:`positive_int`, :func:`nonnegative_int`, :func:`positive_float`,
:func:`finite_float`, :func:`device_name`) turn a bad value into argparse's own one-line error and
exit status 2 (``python -m fundiff.train: error: argument --epochs: must be a positive integer, got
'-1'``); :func:`check_device` and :func:`check_writable_folder` are the same checks for values that
are not parsed by argparse (a function's keyword, a folder the command will write).
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch

__all__ = ["positive_int", "nonnegative_int", "seed_int", "positive_float", "finite_float", "device_name", "check_device",
           "check_writable_folder"]


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def nonnegative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 0, got {text!r}")
    return v


def seed_int(text: str) -> int:
    """argparse type: a random seed, an integer in [0, 2**63)."""
    v = _int(text)
    if not 0 <= v < 2 ** 63:
        raise argparse.ArgumentTypeError(f"must be an integer seed in [0, 2**63), got {text!r}")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (NaN and inf refused)."""
    v = _float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return v


def finite_float(text: str) -> float:
    """argparse type: a finite number (NaN and inf refused)."""
    return _float(text)


def check_device(device) -> torch.device:
    """``device`` as a torch.device; ValueError unless torch knows it and it is usable here (CUDA and
    MPS only where available)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}: expected cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine (use cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"device {device!r}: MPS is not available on this machine (use cpu)")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r} is not supported: expected cpu, cuda, cuda:N or mps")
    return dev


def device_name(text: str) -> str:
    """argparse type: a device this machine has (see :func:`check_device`), kept as the text."""
    try:
        check_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def check_writable_folder(path, what: str = "output folder", create: bool = False) -> Path:
    """``path`` as a Path; ValueError unless it is a folder that exists and can be written, or can be
    created (no file in the way, a writable parent).  ``create``: make it now (so a read-only place
    is found before any work is done)."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"{what} {path}: {p} is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise ValueError(f"{what} {path}: {p} is not writable")
            break
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".fundiff-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise ValueError(f"{what} {path} cannot be written: {err.strerror or err}") from None
    return path
