

# ----- correct variants (tests/variants/two) ------------------------------------------------------

def cfg_estimator(est_cond, est_uncond, guidance_scale=7.0):
    """ε = γ·ε_c + (1 − γ)·ε_u (the same line, expanded)."""
    def est(x_t, t):
        eps_c, v_c = est_cond(x_t, t)
        eps_u, _ = est_uncond(x_t, t)
        return guidance_scale * eps_c + (1 - guidance_scale) * eps_u, v_c

    return est


def highpass(x, kernel_size, sigma):
    """x − lowpass(x) with torch.sub."""
    return torch.sub(x, lowpass(x, kernel_size, sigma))
