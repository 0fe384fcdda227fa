

# ----- correct variants (tests/variants/one) ------------------------------------------------------

def estimate_x0(x_t, eps, t, alphas_cumprod):
    """x̂₀ = x_t/√ᾱ − √((1 − ᾱ)/ᾱ)·ε: the same quantity, the division distributed."""
    a = abar_at(alphas_cumprod, t, x_t)
    return x_t / a.sqrt() - ((1 - a) / a).sqrt() * eps


def posterior_mean(x0_hat, x_t, t, t_prev, alphas_cumprod):
    """μ with the two coefficients computed in float64 and cast back:
    c₀ = √ᾱ′·(1 − ᾱ/ᾱ′)/(1 − ᾱ), c_t = √(ᾱ/ᾱ′)·(1 − ᾱ′)/(1 − ᾱ)."""
    a = abar_at(alphas_cumprod, t, x_t.double())
    ap = abar_at(alphas_cumprod, t_prev, x_t.double())
    c0 = (ap.sqrt() * (1 - a / ap) / (1 - a)).to(x_t.dtype)
    ct = ((a / ap).sqrt() * (1 - ap) / (1 - a)).to(x_t.dtype)
    return c0 * x0_hat + ct * x_t


def fixed_variance(t, t_prev, alphas_cumprod):
    """β̃ = (ᾱ′ − ᾱ)·(1 − ᾱ′) / ((1 − ᾱ)·ᾱ′): β = 1 − ᾱ/ᾱ′ with ᾱ′ factored out."""
    a = abar_at(alphas_cumprod, t, alphas_cumprod)
    ap = abar_at(alphas_cumprod, t_prev, alphas_cumprod)
    return (ap - a) * (1 - ap) / ((1 - a) * ap)


def learned_variance(v, t, t_prev, alphas_cumprod):
    """σ² = exp(lerp(log β̃, log β, frac)), frac = (v + 1)/2 (torch.lerp for the mix)."""
    a = abar_at(alphas_cumprod, t, v)
    ap = abar_at(alphas_cumprod, t_prev, v)
    beta = 1 - a / ap
    beta_tilde = torch.clamp((1 - ap) / (1 - a) * beta, min=1e-20)
    return torch.exp(torch.lerp(torch.log(beta_tilde).expand_as(v), torch.log(beta).expand_as(v), (v + 1) / 2))


def denoise_step(x_t, eps, v, t, t_prev, alphas_cumprod, z):
    """x_t′ = μ + exp(½·log σ²)·z, σ from v or fixed; x̂₀ and μ through the helpers."""
    mean = posterior_mean(estimate_x0(x_t, eps, t, alphas_cumprod), x_t, t, t_prev, alphas_cumprod)
    if t_prev == -1:
        return mean
    var = learned_variance(v, t, t_prev, alphas_cumprod) if v is not None else \
        fixed_variance(t, t_prev, alphas_cumprod).to(x_t.device, x_t.dtype)
    return mean + torch.exp(0.5 * torch.log(var)) * z


def iterative_denoise(x, est, timesteps, i_start, alphas_cumprod, generator, project=None, callback=None):
    """The loop over the pairs (t, t′) = zip(timesteps, timesteps[1:] + [−1]), from i_start."""
    timesteps = check_timesteps(timesteps, check_alphas_cumprod(alphas_cumprod))
    check_i_start(i_start, timesteps)
    pairs = list(zip(timesteps, timesteps[1:] + [-1]))
    for i, (t, t_prev) in enumerate(pairs):
        if i < i_start:
            continue
        eps, v = est(x, t)
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
        x = denoise_step(x, eps, v, t, t_prev, alphas_cumprod, z)
        x = project(x, t_prev) if project is not None else x
        if callback is not None:
            callback(i, t, x)
    return x


def strided_timesteps(start=990, stride=30):
    """[start − i·stride for i = 0 … start/stride]."""
    check_int(start, "start")
    check_int(stride, "stride")
    if stride <= 0 or start < 0 or start % stride:
        raise ValueError(f"start must be a non-negative multiple of stride > 0, got start={start}, stride={stride}")
    return [start - i * stride for i in range(start // stride + 1)]


def inference_timesteps(num_inference_steps, num_train_timesteps=1000):
    """diffusers' 'leading' spacing written as diffusers does: arange(n)·(T // n), reversed."""
    check_int(num_train_timesteps, "num_train_timesteps", 1)
    check_int(num_inference_steps, "num_inference_steps")
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in [1, {num_train_timesteps}], got {num_inference_steps}")
    ratio = num_train_timesteps // num_inference_steps
    return [int(t) for t in (torch.arange(num_inference_steps) * ratio).flip(0)]


def gaussian_blur(x, kernel_size, sigma):
    """A separable Gaussian blur: a 1-D kernel g_i ∝ exp(−½((i − (k−1)/2)/σ)²), reflect padding,
    then a depthwise convolution along the height and one along the width."""
    check_image(x, "x")
    c, half = x.shape[1], kernel_size // 2
    i = torch.linspace(-half, half, kernel_size, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (i / float(sigma)) ** 2)
    g = g / g.sum()
    y = torch.nn.functional.pad(x, (half, half, half, half), mode="reflect")
    y = torch.nn.functional.conv2d(y, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return torch.nn.functional.conv2d(y, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)


def best_blur(x_noisy, x0, kernel_sizes, sigmas):
    """Every blur of the grid at once, the MSEs stacked, the first argmin."""
    grid = [(k, s) for k in kernel_sizes for s in sigmas]
    blurs = torch.stack([gaussian_blur(x_noisy, k, s) for k, s in grid])
    mse = ((blurs - x0) ** 2).flatten(1).mean(1)
    best = int(torch.argmin(mse))
    return grid[best][0], grid[best][1], blurs[best]


def sample(est, shape, timesteps, alphas_cumprod, generator, project=None, callback=None, device=None):
    """x_T drawn as float32 on the CPU, then iterative_denoise from i_start = 0."""
    x = torch.randn(*shape, generator=generator, dtype=torch.float32).to(device if device is not None else "cpu")
    return iterative_denoise(x, est, timesteps, 0, alphas_cumprod, generator, project, callback)
