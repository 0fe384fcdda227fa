"""Pictures: image grids (PNG), denoising GIFs and loss curves, with torchvision, imageio, matplotlib."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def gaussian_kernel_size(sigma: float) -> int:
    """The odd size of a Gaussian kernel that covers ±3σ: 2·⌊3σ⌉ + 1 (⌊·⌉ rounds halves up), e.g. 13
    for σ = 2 (the course's 33 at σ = 2 on 64 px is wider, ±8σ)."""
    return 2 * int(3 * sigma + 0.5) + 1


def check_pictures(images, value_range=(0.0, 1.0), what: str = "images") -> None:
    """ValueError unless ``images`` is a non-empty (B, C, H, W) tensor (C = 1 or 3) of finite values and
    ``value_range`` a (low, high) pair with low < high."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3) or not images.numel():
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} to draw must be a (B, C, H, W) tensor with C = 1 (grey) or 3 (RGB), got {got}")
    if images.is_floating_point() and not bool(torch.isfinite(images).all()):
        bad = int((~torch.isfinite(images)).sum())
        raise ValueError(f"{what} to draw hold NaN or inf ({bad} of {images.numel()} values): the computation "
                         "that made them diverged")
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or not lo < hi:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """(B, C, H, W) floats in ``value_range`` → uint8 (B, H, W, C) in 0..255 (clipped)."""
    check_pictures(images, value_range)
    lo, hi = value_range
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(images: torch.Tensor, nrow: int = 8, value_range=(0.0, 1.0), scale: int = 1, pad: int = 2) -> np.ndarray:
    """One uint8 (H, W, 3) picture of a batch (B, C, H, W), ``nrow`` images a row, upscaled ×scale."""
    from torchvision.utils import make_grid

    check_pictures(images, value_range)
    for name, v in (("nrow", nrow), ("scale", scale)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    lo, hi = value_range
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    if scale > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    g = make_grid(x, nrow=nrow, padding=pad, pad_value=1.0)
    return (g * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, value_range=(0.0, 1.0), scale: int = 2) -> Path:
    """Save a batch (B, C, H, W) as one PNG grid."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(images, nrow, value_range, scale)).save(path)
    return path


def save_gif(frames: list[torch.Tensor], path: str | Path, nrow: int = 8, value_range=(0.0, 1.0),
             scale: int = 2, duration_ms: int = 60, hold_last: int = 15) -> Path:
    """Save a list of batches (each (B, C, H, W)) as an animated GIF, one grid per frame, looping,
    with the last frame held ``hold_last`` times."""
    import imageio.v3 as iio

    if not len(frames):
        raise ValueError(f"save_gif needs at least one frame (a list of (B, C, H, W) batches), got none for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [grid(f, nrow, value_range, scale) for f in frames]
    pics += [pics[-1]] * hold_last
    iio.imwrite(path, np.stack(pics), extension=".gif", duration=duration_ms, loop=0)
    return path


def plot_losses(losses, path: str | Path, title: str = "training loss", per_epoch: int | None = None) -> Path:
    """Save a log-scale loss curve (one value per step) as PNG; epoch boundaries dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(np.asarray(losses, dtype=float), lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if per_epoch:
        for e in range(per_epoch, len(losses), per_epoch):
            ax.axvline(e, color="gray", ls=":", lw=0.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
