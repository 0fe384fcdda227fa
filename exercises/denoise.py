# Exercise stubs, generated from solutions/denoise.py by `python -m fundiff.exercises`.
# Replace every `raise NotImplementedError(...)` with your code; keep names and signatures.
"""Part A §1.2–§1.5 — classical, one-step and iterative denoising, and sampling."""
import torch

from .forward import abar_at


def estimate_x0(x_t: torch.Tensor, eps: torch.Tensor, t, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """One-step denoising (§1.3): x̂₀ = (x_t − √(1 − ᾱ_t) · ε̂) / √ᾱ_t.

    x_t, eps: (B, C, H, W); t: int or (B,) tensor; alphas_cumprod: (T,).  Returns x̂₀ (B, C, H, W).
    """
    raise NotImplementedError("A1.3: invert the forward process with the estimated noise")


def posterior_mean(x0_hat: torch.Tensor, x_t: torch.Tensor, t, t_prev, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The mean of q(x_t′ | x_t, x̂₀) for a step from t to t′ = t_prev < t (§1.4):

        α = ᾱ_t / ᾱ_t′,  β = 1 − α,
        μ = (√ᾱ_t′ · β / (1 − ᾱ_t)) · x̂₀ + (√α · (1 − ᾱ_t′) / (1 − ᾱ_t)) · x_t,

    with ᾱ_t′ = 1 when t′ = −1 (past the end: then μ = x̂₀).
    x0_hat, x_t: (B, C, H, W); t, t_prev: ints or (B,) tensors.  Returns μ: (B, C, H, W).
    """
    raise NotImplementedError("A1.4: the two coefficients of the DDPM posterior mean with strided steps")
