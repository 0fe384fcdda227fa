

# ----- correct variants (tests/variants/one) ------------------------------------------------------

def abar_at(alphas_cumprod, t, like):
    """ᾱ_t by torch.where on clamped indices, in float64, cast back to like's dtype:
    ᾱ_t = where(t ≥ 0, alphas_cumprod[max(t, 0)], 1), (B,) → (B, 1, 1, 1)."""
    check_timestep(t, check_alphas_cumprod(alphas_cumprod))
    t = torch.as_tensor(t, device=alphas_cumprod.device).long()
    a = torch.where(t >= 0, alphas_cumprod.double()[t.clamp(min=0)], torch.ones((), dtype=torch.float64))
    if a.ndim == 1:
        a = a.view(-1, *([1] * (like.ndim - 1)))
    return a.to(device=like.device, dtype=like.dtype)


def forward_process(x0, eps, t, alphas_cumprod):
    """x_t = √ᾱ·x₀ + √(1 − ᾱ)·ε with every intermediate in float64, cast back to x0's dtype."""
    check_image(x0, "x0")
    check_image(eps, "eps (the noise)", like=x0)
    a = abar_at(alphas_cumprod, t, x0.double())
    return (a.sqrt() * x0.double() + (1 - a).sqrt() * eps.double()).to(x0.dtype)
