

# ----- correct variants (tests/variants/one) ------------------------------------------------------

def cfg_estimator(est_cond, est_uncond, guidance_scale=7.0):
    """ε = lerp(ε_u, ε_c, γ) (torch.lerp extrapolates for γ > 1), v from the conditional pass."""
    def est(x_t, t):
        eps_c, v_c = est_cond(x_t, t)
        eps_u, _ = est_uncond(x_t, t)
        return torch.lerp(eps_u, eps_c, float(guidance_scale)), v_c

    return est


def sdedit(x_orig, est, timesteps, i_start, alphas_cumprod, generator, callback=None, project=None):
    """x_t = √ᾱ·x + √(1 − ᾱ)·ε written out (ᾱ looked up here), then the loop from i_start."""
    timesteps = check_timesteps(timesteps, check_alphas_cumprod(alphas_cumprod))
    check_i_start(i_start, timesteps)
    eps = torch.randn(x_orig.shape, generator=generator).to(x_orig.device, x_orig.dtype)
    a = alphas_cumprod[timesteps[i_start]].to(x_orig.device, x_orig.dtype)
    x_t = a.sqrt() * x_orig + (1 - a).sqrt() * eps
    return iterative_denoise(x_t, est, timesteps, i_start, alphas_cumprod, generator, project, callback)


def inpaint_projection(x_orig, mask, alphas_cumprod, generator):
    """project(x, t′) = lerp(x_known, x, m) = x_known + m·(x − x_known)."""
    def project(x, t_prev):
        eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        known = forward_process(x_orig.to(x.device, x.dtype), eps, t_prev, alphas_cumprod)
        return torch.lerp(known, x, mask.to(x.device, x.dtype).expand_as(x))

    return project


def inpaint(x_orig, mask, est, timesteps, alphas_cumprod, generator, callback=None):
    """x_T ~ N(0, I) drawn here, then iterative_denoise from i_start = 0 with the projection."""
    project = inpaint_projection(x_orig, mask, alphas_cumprod, generator)
    x = torch.randn(x_orig.shape, generator=generator).to(x_orig.device)
    return iterative_denoise(x, est, timesteps, 0, alphas_cumprod, generator, project, callback)


def flip_upside_down(x):
    """The rows in reverse order by indexing."""
    return x[..., torch.arange(x.shape[-2] - 1, -1, -1, device=x.device), :]


def rotate90(x):
    """Counter-clockwise: transpose the last two axes, then reverse the rows."""
    return x.transpose(-1, -2).flip(-2)


def rotate270(x):
    """Clockwise: reverse the rows, then transpose the last two axes."""
    return x.flip(-2).transpose(-1, -2)


def rotate180(x):
    """Two quarter turns."""
    return torch.rot90(x, 2, dims=(-2, -1))


def negate(x):
    return torch.neg(x)


def anagram_estimator(est1, est2, view=flip_upside_down, inverse=None):
    """The mean of the stacked estimates, ε = mean(ε₁, view⁻¹(ε₂(view(x_t)))), and the same for v."""
    inverse = view if inverse is None else inverse

    def est(x_t, t):
        eps1, v1 = est1(x_t, t)
        eps2, v2 = est2(view(x_t), t)
        v = None if v1 is None or v2 is None else torch.stack([v1, inverse(v2)]).mean(0)
        return torch.stack([eps1, inverse(eps2)]).mean(0), v

    return est


def hybrid_kernel(image_size, kernel_size=33, sigma=2.0, reference_size=64):
    """σ′ = σ·size/64 and the half-width (k − 1)/2 scaled and rounded."""
    half = round((kernel_size - 1) // 2 * image_size / reference_size)
    return 2 * max(half, 0) + 1, sigma * image_size / reference_size


def hybrid_estimator(est_low, est_high, kernel_size=None, sigma=None):
    """ε = ε₂ + lowpass(ε₁ − ε₂), which is lowpass(ε₁) + highpass(ε₂) as the blur is linear."""
    def est(x_t, t):
        k, s = hybrid_kernel(x_t.shape[-2])
        k, s = (k if kernel_size is None else kernel_size), (s if sigma is None else sigma)
        eps1, v1 = est_low(x_t, t)
        eps2, v2 = est_high(x_t, t)
        v = None if v1 is None or v2 is None else v2 + lowpass(v1 - v2, k, s)
        return eps2 + lowpass(eps1 - eps2, k, s), v

    return est
