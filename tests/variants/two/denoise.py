

# ----- correct variants (tests/variants/two) ------------------------------------------------------

def estimate_x0(x_t, eps, t, alphas_cumprod):
    """x̂₀ in float64, cast back to x_t's dtype."""
    a = abar_at(alphas_cumprod, t, x_t.double())
    return ((x_t.double() - (1 - a).sqrt() * eps.double()) / a.sqrt()).to(x_t.dtype)


def learned_variance(v, t, t_prev, alphas_cumprod):
    """σ² = β^frac · β̃^(1 − frac) (the log-space mix as a product of powers)."""
    a = abar_at(alphas_cumprod, t, v)
    ap = abar_at(alphas_cumprod, t_prev, v)
    beta = 1 - a / ap
    beta_tilde = ((1 - ap) / (1 - a) * beta).clamp(min=1e-20)
    frac = (v + 1) / 2
    return torch.pow(beta, frac) * torch.pow(beta_tilde, 1 - frac)


def denoise_step(x_t, eps, v, t, t_prev, alphas_cumprod, z):
    """σ·z added with torch.addcmul; the step to t′ = −1 returns x̂₀ itself (μ = x̂₀ there)."""
    x0_hat = estimate_x0(x_t, eps, t, alphas_cumprod)
    if t_prev == -1:
        return x0_hat
    mean = posterior_mean(x0_hat, x_t, t, t_prev, alphas_cumprod)
    var = learned_variance(v, t, t_prev, alphas_cumprod) if v is not None else \
        fixed_variance(t, t_prev, alphas_cumprod).to(x_t.device, x_t.dtype)
    return torch.addcmul(mean, var.sqrt(), z)
