"""Part A §1.1 — the forward process, and the one convention every other module relies on.

Timesteps are integers t ∈ {0, …, T−1} indexing ``alphas_cumprod`` (ᾱ) 0-based, as in diffusers:
ᾱ_t = ∏_{s ≤ t} (1 − β_s), so even t = 0 adds a little noise.  Anything "past the end" (t = −1,
reached after the last denoising step) has ᾱ = 1: the clean image.
"""
import torch


def abar_at(alphas_cumprod: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """ᾱ_t, shaped to broadcast against ``like`` (B, C, H, W): a scalar t gives a 0-dim tensor,
    a (B,) tensor of timesteps gives (B, 1, 1, 1).  t = −1 gives ᾱ = 1 (past the end).

    alphas_cumprod: (T,).  Returns a tensor of ``like``'s dtype and device.
    """
    # BEGIN SOLUTION A1.1: index ᾱ (with ᾱ_{-1} = 1), then reshape a batch of t to (B, 1, 1, 1)
    abar = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod])  # abar[t + 1] = ᾱ_t
    t = torch.as_tensor(t, device=abar.device)
    a = abar[t.long() + 1]
    if a.ndim == 1:
        a = a.reshape(-1, *([1] * (like.ndim - 1)))
    return a.to(like.dtype).to(like.device)
    # END SOLUTION


def forward_process(x0: torch.Tensor, eps: torch.Tensor, t, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε.

    x0, eps: (B, C, H, W); t: int or (B,) long tensor; alphas_cumprod: (T,).
    Returns x_t: (B, C, H, W).  The noise is an argument: this function draws nothing.
    """
    # BEGIN SOLUTION A1.1: look up ᾱ_t with abar_at, then scale and add
    abar = abar_at(alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    # END SOLUTION
