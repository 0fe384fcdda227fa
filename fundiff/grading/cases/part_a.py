"""Reference cases of Part A (forward.py, denoise.py, guidance.py)."""
from __future__ import annotations

import torch

from ...data import load_digits
from .. import call
from . import case


def cosine_alphas_cumprod(num_train_timesteps: int = 1000) -> torch.Tensor:
    """ᾱ of IF's schedule (DDPM, squaredcos_cap_v2, 1000 steps), float32 (T,), from diffusers."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2")
    return sched.alphas_cumprod.to(torch.float32).clone()


def digit_images(n: int = 2) -> torch.Tensor:
    """``n`` held-out digits in [-1, 1], (n, 1, 28, 28): the Part A "test image" of the graded cases."""
    x, _ = load_digits("heldout")
    return x[::50][:n] * 2 - 1


def gaussian(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@case("A1.1/forward_process", "A1.1")
def forward_process_case(impl):
    abar = cosine_alphas_cumprod()
    x0 = digit_images(2)
    eps = gaussian(x0.shape, 1)
    out = {f"x_t{t}": call(impl, "forward.forward_process", x0, eps, t, abar) for t in (0, 250, 500, 750, 999)}
    out["x_t_batch"] = call(impl, "forward.forward_process", x0, eps, torch.tensor([100, 900]), abar)
    return out
