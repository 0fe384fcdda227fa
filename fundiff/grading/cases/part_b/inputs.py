"""The inputs of the Part B cases: seeded Gaussian tensors, held-out digits, and the schedules the
step, loss and sampler tests run on (built here, so that those tests do not depend on the student's
ddpm_schedule)."""
from __future__ import annotations

import torch

from ....data import load_digits
from .. import fresh_offset, fresh_seed

# The tiny schedule of the step and sampler tests: few steps, large enough β that every step matters.
TINY_T, TINY_BETA1, TINY_BETA2 = 12, 1e-3, 0.2


def gaussian(shape, seed: int) -> torch.Tensor:
    """N(0, I) float32 of ``shape`` from a CPU generator seeded with ``seed``."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(fresh_seed(seed)))


def digits(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out digits in [0, 1] (n, 1, 28, 28) of different classes, and their labels (n,)."""
    x, y = load_digits("heldout")
    idx = torch.arange(n) * 50 + (torch.arange(n) % 7 + fresh_offset(50)) % 50  # one digit of each class 0, 1, 2, …
    return x[idx], y[idx]


def linear_schedule(num_ts: int, beta1: float, beta2: float) -> dict:
    """An input schedule for the step/sampler tests ({'betas', 'alphas', 'alphas_cumprod'}),
    built here so that those tests do not depend on the student's ddpm_schedule."""
    betas = torch.linspace(beta1, beta2, num_ts, dtype=torch.float32)
    return {"betas": betas, "alphas": 1 - betas, "alphas_cumprod": torch.cumprod(1 - betas, 0)}


def tiny_schedule() -> dict:
    return linear_schedule(TINY_T, TINY_BETA1, TINY_BETA2)


def course_schedule() -> dict:
    return linear_schedule(300, 1e-4, 0.02)
