"""Reference cases: deterministic runs of the course functions whose outputs are stored in
``data/reference/`` by ``python -m fundiff.reference`` (from ``solutions/``) and compared against
the implementation under test by the graded tests.

A case is a function ``(impl) -> {name: tensor}`` registered with :func:`case`.  Its inputs are
built inside it from fixed seeds on CPU generators (or from files in ``data/``), so the reference
and the graded run see the same numbers on any machine.  Call student code through
:func:`fundiff.grading.call`.  Cases live in the modules of this package, every one of which is
imported by :func:`all_cases`: ``part_a.py`` (forward.py, denoise.py, guidance.py) and ``part_b/``
(one file per graded module: ``unet.py``, ``train.py``, beside the inputs and tiny models they
share).  A new case goes in the file of the module it grades.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ...data import DATA_DIR
from .. import GradingError, compare

REFERENCE_DIR = DATA_DIR / "reference"


@dataclass(frozen=True)
class Case:
    name: str  # 'A1.1/forward_process'
    section: str
    fn: Callable
    atol: float
    rtol: float

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / (self.name.replace("/", "__") + ".safetensors")


CASES: dict[str, Case] = {}


def case(name: str, section: str, atol: float = 1e-5, rtol: float = 1e-4):
    """Register ``fn(impl) -> {output name: tensor}`` as the reference case ``name``."""

    def register(fn):
        if name in CASES and CASES[name].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"reference case {name!r} registered twice")
        CASES[name] = Case(name, section, fn, atol, rtol)
        return fn

    return register


def all_cases() -> dict[str, Case]:
    """Every registered case (importing each module of this package once)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return CASES


def run_case(name: str, impl) -> dict[str, torch.Tensor]:
    """The outputs of case ``name`` on ``impl``."""
    c = all_cases()[name]
    out = c.fn(impl)
    if not isinstance(out, dict) or not all(isinstance(v, torch.Tensor) for v in out.values()):
        raise TypeError(f"case {name} must return {{name: tensor}}, got {type(out).__name__}")
    return out


def load_reference(name: str) -> dict[str, torch.Tensor]:
    """The stored outputs of case ``name``."""
    from safetensors.torch import load_file

    path = all_cases()[name].path
    if not path.is_file():
        raise GradingError(
            f"reference outputs for {name} missing ({path}): run `python -m fundiff.reference` "
            "with solutions/ present, and commit data/reference/"
        )
    return load_file(str(path))


def check_case(name: str, impl, atol: float | None = None, rtol: float | None = None,
               keys=None) -> dict[str, torch.Tensor]:
    """Run case ``name`` on ``impl`` and compare every output (or ``keys``) with the reference.
    Tolerances: the case's own unless given.  Returns the outputs."""
    c = all_cases()[name]
    want = load_reference(name)
    got = run_case(name, impl)
    for key in keys or sorted(want):
        if key not in got:
            raise GradingError(f"{name}: the case produced no output {key!r}")
        compare(f"{name} → {key}", got[key], want[key],
                atol=c.atol if atol is None else atol, rtol=c.rtol if rtol is None else rtol)
    return got
