"""Part A §0, §1.2–§1.5 — the timesteps of a pipeline, classical, one-step and iterative denoising,
and sampling.

A noise estimator is a callable ``est(x_t, t) -> (eps, v)``: x_t (B, C, H, W), t a python int,
eps (B, C, H, W) the predicted noise, v (B, C, H, W) the learned-variance channels or None.  The
loops draw all their noise on the CPU from a ``torch.Generator`` (the same numbers on any device).
"""
import torch

from .forward import (abar_at, check_alphas_cumprod, check_callable, check_image, check_int, check_number,
                      check_timestep)


def estimate_x0(x_t: torch.Tensor, eps: torch.Tensor, t, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """One-step denoising (§1.3): x̂₀ = (x_t − √(1 − ᾱ_t) · ε̂) / √ᾱ_t.

    x_t, eps: (B, C, H, W); t: int or (B,) tensor; alphas_cumprod: (T,).  Returns x̂₀ (B, C, H, W).
    """
    check_image(x_t, "x_t")
    check_image(eps, "eps (the estimated noise)", like=x_t)
    check_timestep(t, check_alphas_cumprod(alphas_cumprod), past_end=False)
    # BEGIN SOLUTION A1.3: invert the forward process with the estimated noise
    abar = abar_at(alphas_cumprod, t, x_t)
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
    # END SOLUTION


def posterior_mean(x0_hat: torch.Tensor, x_t: torch.Tensor, t, t_prev, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The mean of q(x_t′ | x_t, x̂₀) for a step from t to t′ = t_prev < t (§1.4):

        α = ᾱ_t / ᾱ_t′,  β = 1 − α,
        μ = (√ᾱ_t′ · β / (1 − ᾱ_t)) · x̂₀ + (√α · (1 − ᾱ_t′) / (1 − ᾱ_t)) · x_t,

    with ᾱ_t′ = 1 when t′ = −1 (past the end: then μ = x̂₀).
    x0_hat, x_t: (B, C, H, W); t, t_prev: ints or (B,) tensors.  Returns μ: (B, C, H, W).
    """
    check_image(x_t, "x_t")
    check_image(x0_hat, "x0_hat", like=x_t)
    check_step(t, t_prev, alphas_cumprod)
    # BEGIN SOLUTION A1.4: the two coefficients of the DDPM posterior mean with strided steps
    abar_t = abar_at(alphas_cumprod, t, x_t)
    abar_prev = abar_at(alphas_cumprod, t_prev, x_t)
    alpha = abar_t / abar_prev
    beta = 1 - alpha
    return (abar_prev.sqrt() * beta / (1 - abar_t)) * x0_hat + (
        alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)
    ) * x_t
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# Checks of the arguments of the loops (given: not an exercise)
# ---------------------------------------------------------------------------------------------

def check_timesteps(timesteps, num_train_timesteps: int) -> list:
    """``timesteps`` as a list of python ints; ValueError unless it is non-empty, strictly
    descending and inside [0, T) (T = len(alphas_cumprod))."""
    if isinstance(timesteps, torch.Tensor):
        timesteps = timesteps.tolist()
    try:
        ts = [int(t) for t in timesteps]
    except (TypeError, ValueError):
        raise ValueError(f"timesteps must be a list of integers, got {timesteps!r}") from None
    if any(int(t) != t for t in timesteps):
        raise ValueError(f"timesteps must be integers, got {list(timesteps)}")
    if not ts:
        raise ValueError("timesteps is empty: expected e.g. strided_timesteps() = [990, 960, ..., 30, 0]")
    if any(a <= b for a, b in zip(ts, ts[1:])):
        raise ValueError(f"timesteps must be strictly descending (from noisy to clean), got {ts}")
    if ts[0] >= num_train_timesteps or ts[-1] < 0:
        raise ValueError(f"timesteps must lie in [0, {num_train_timesteps}) (T = len(alphas_cumprod)), got {ts}")
    return ts


def check_step(t, t_prev, alphas_cumprod) -> None:
    """ValueError unless t ∈ [0, T) and t′ = t_prev ∈ [−1, t) (a step towards the clean image)."""
    T = check_alphas_cumprod(alphas_cumprod)
    check_timestep(t, T, "t", past_end=False)
    check_timestep(t_prev, T, "t_prev")
    if not isinstance(t, torch.Tensor) and not isinstance(t_prev, torch.Tensor) and not t_prev < t:
        raise ValueError(f"a step goes from t to an earlier t_prev < t (−1 after the last), got t={t}, t_prev={t_prev}")


def check_generator(generator) -> None:
    """ValueError unless ``generator`` is a CPU torch.Generator (all the loops' noise is drawn from it)."""
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator (e.g. torch.Generator().manual_seed(0)), "
                         f"got {generator!r:.80}")


def check_i_start(i_start: int, timesteps: list) -> int:
    """ValueError unless 0 ≤ i_start < len(timesteps)."""
    if isinstance(i_start, bool) or not isinstance(i_start, int) or not 0 <= i_start < len(timesteps):
        raise ValueError(f"i_start must be an index into timesteps, an int in [0, {len(timesteps)}), got {i_start!r}")
    return i_start


def check_shape(shape) -> tuple:
    """``shape`` as a tuple; ValueError unless it is 4 positive ints (B, C, H, W)."""
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or len(dims) != 4 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"shape must be (B, C, H, W): 4 positive ints, got {shape!r}")
    return dims


# ---------------------------------------------------------------------------------------------
# §0 — which timesteps a pipeline visits
# ---------------------------------------------------------------------------------------------

def inference_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000) -> list:
    """§0: the timesteps a DDPM pipeline (diffusers' default "leading" spacing) visits with
    ``num_inference_steps`` steps:  r = T // n,  timesteps = [(n − 1)·r, (n − 2)·r, …, r, 0].

    E.g. n = 20, T = 1000 → [950, 900, …, 50, 0].  Returns a list of n python ints, descending.
    """
    check_int(num_train_timesteps, "num_train_timesteps", 1)
    check_int(num_inference_steps, "num_inference_steps")
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in [1, {num_train_timesteps}], got {num_inference_steps}")
    # BEGIN SOLUTION A0: step ratio T // n, then the multiples of it from (n − 1)·ratio down to 0
    ratio = num_train_timesteps // num_inference_steps
    return [i * ratio for i in range(num_inference_steps - 1, -1, -1)]
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.2 — classical denoising
# ---------------------------------------------------------------------------------------------

def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """§1.2: blur each channel of x (B, C, H, W) with a kernel_size × kernel_size Gaussian of std
    ``sigma`` pixels (torchvision's ``gaussian_blur``: kernel_size odd, reflect padding).
    Returns (B, C, H, W)."""
    check_image(x, "x")
    check_int(kernel_size, "kernel_size", 1)
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
    check_number(sigma, "sigma (the blur's std in pixels)", 0, low_open=True)
    h, w = x.shape[-2:]
    if kernel_size // 2 >= min(h, w):
        raise ValueError(f"kernel_size {kernel_size} is too large for a {h}×{w} image: reflect padding allows at most "
                         f"{2 * min(h, w) - 1} (for a hybrid image, hybrid_kernel({h}) gives the course's kernel "
                         "scaled to this size)")
    # BEGIN SOLUTION A1.2: torchvision.transforms.functional.gaussian_blur with [k, k] and [σ, σ]
    import torchvision.transforms.functional as TF

    return TF.gaussian_blur(x, [kernel_size, kernel_size], [float(sigma), float(sigma)])
    # END SOLUTION


def best_blur(x_noisy: torch.Tensor, x0: torch.Tensor, kernel_sizes, sigmas):
    """§1.2: the blur that best denoises x_noisy: the (kernel_size, sigma) pair of the grid
    ``kernel_sizes`` × ``sigmas`` whose ``gaussian_blur(x_noisy)`` has the lowest mean squared error
    to the clean x0 (the first of equal ones, kernel sizes outer, sigmas inner).

    x_noisy, x0: (B, C, H, W).  Returns (kernel_size, sigma, blurred (B, C, H, W)).
    """
    check_image(x_noisy, "x_noisy")
    check_image(x0, "x0", like=x_noisy)
    kernel_sizes, sigmas = list(kernel_sizes), list(sigmas)
    if not kernel_sizes or not sigmas:
        raise ValueError(f"kernel_sizes and sigmas must be non-empty grids, got {kernel_sizes} and {sigmas}")
    # BEGIN SOLUTION A1.2: loop over the grid, keep the pair with the smallest MSE (strictly smaller)
    best = None
    for k in kernel_sizes:
        for s in sigmas:
            y = gaussian_blur(x_noisy, k, s)
            err = ((y - x0) ** 2).mean().item()
            if best is None or err < best[0]:
                best = (err, k, s, y)
    return best[1], best[2], best[3]
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.4 — iterative denoising with strided timesteps
# ---------------------------------------------------------------------------------------------

def strided_timesteps(start: int = 990, stride: int = 30) -> list:
    """§1.4: [start, start − stride, …, 0]: every multiple of ``stride`` from ``start`` down to
    **0 included** (990, 960, …, 30, 0 by default: 34 timesteps).  Returns a list of python ints."""
    check_int(start, "start")
    check_int(stride, "stride")
    if stride <= 0 or start < 0 or start % stride:
        raise ValueError(f"start must be a non-negative multiple of stride > 0, got start={start}, stride={stride}")
    # BEGIN SOLUTION A1.4: a descending range that stops after 0 (range's end is exclusive)
    return list(range(start, -1, -stride))
    # END SOLUTION


def fixed_variance(t: int, t_prev: int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """§1.4: the posterior variance of a step from t to t′ = t_prev (a model without learned variance):

        α = ᾱ_t / ᾱ_t′,  β = 1 − α,  β̃ = (1 − ᾱ_t′) / (1 − ᾱ_t) · β,

    with ᾱ_t′ = 1 for t′ = −1 (then β̃ = 0).  Returns σ² = β̃, a 0-dim tensor (alphas_cumprod's dtype).
    """
    check_step(t, t_prev, alphas_cumprod)
    # BEGIN SOLUTION A1.4: look up ᾱ_t and ᾱ_t′ (abar_at handles t′ = −1), then β and β̃
    abar_t = abar_at(alphas_cumprod, t, alphas_cumprod)
    abar_prev = abar_at(alphas_cumprod, t_prev, alphas_cumprod)
    beta = 1 - abar_t / abar_prev
    return (1 - abar_prev) / (1 - abar_t) * beta
    # END SOLUTION


def learned_variance(v: torch.Tensor, t: int, t_prev: int, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """§1.4: IF's learned variance (DDPM ``learned_range``) for a step from t to t′ = t_prev:

        frac = (v + 1) / 2,
        log σ² = frac · log β + (1 − frac) · log β̃,

    β and β̃ as in :func:`fixed_variance` (for the same t and t′), β̃ clamped to ≥ 1e-20 before the log.
    v: (B, C, H, W) in about [−1, 1].  Returns σ²: (B, C, H, W) in v's dtype and device.
    """
    check_image(v, "v (the learned-variance channels)")
    check_step(t, t_prev, alphas_cumprod)
    # BEGIN SOLUTION A1.4: interpolate log β and log β̃ (clamped) with frac, then exp
    abar_t = abar_at(alphas_cumprod, t, v)
    abar_prev = abar_at(alphas_cumprod, t_prev, v)
    beta = 1 - abar_t / abar_prev
    beta_tilde = ((1 - abar_prev) / (1 - abar_t) * beta).clamp(min=1e-20)
    frac = (v + 1) / 2
    return torch.exp(frac * torch.log(beta) + (1 - frac) * torch.log(beta_tilde))
    # END SOLUTION


def denoise_step(x_t: torch.Tensor, eps: torch.Tensor, v, t: int, t_prev: int,
                 alphas_cumprod: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """§1.4: one step from t to t′ = t_prev < t:

        x̂₀ = estimate_x0(x_t, ε̂, t),
        x_t′ = posterior_mean(x̂₀, x_t, t, t′) + σ · z,

    σ² = learned_variance(v, t, t′) when v is not None, else fixed_variance(t, t′); no noise when
    t′ = −1 (past the end: the step returns x̂₀).
    x_t, eps, z: (B, C, H, W); v: (B, C, H, W) or None; t, t_prev: ints.  Returns x_t′ (B, C, H, W) in
    x_t's dtype.
    """
    check_image(x_t, "x_t")
    check_image(eps, "eps (the estimated noise)", like=x_t)
    if v is not None:
        check_image(v, "v (the learned-variance channels)", like=x_t)
    check_image(z, "z (the step's noise)", like=x_t)
    check_step(t, t_prev, alphas_cumprod)
    # BEGIN SOLUTION A1.4: x̂₀, the posterior mean, then σ·z with σ² from v (or fixed) unless t′ = −1
    x0_hat = estimate_x0(x_t, eps, t, alphas_cumprod)
    mean = posterior_mean(x0_hat, x_t, t, t_prev, alphas_cumprod)
    if t_prev < 0:
        return mean
    if v is not None:
        var = learned_variance(v, t, t_prev, alphas_cumprod)
    else:
        var = fixed_variance(t, t_prev, alphas_cumprod).to(x_t.device, x_t.dtype)
    return mean + var.sqrt() * z
    # END SOLUTION


def iterative_denoise(x: torch.Tensor, est, timesteps, i_start: int, alphas_cumprod: torch.Tensor,
                      generator: torch.Generator, project=None, callback=None) -> torch.Tensor:
    """§1.4: denoise x = x_{timesteps[i_start]} down to a clean image, one :func:`denoise_step` per
    timestep: for i = i_start, …, len(timesteps) − 1, with t = timesteps[i] and
    t′ = timesteps[i + 1] (−1 after the last):

        ε̂, v = est(x, t)
        z ~ N(0, I) of x's shape, drawn on the CPU from ``generator`` (every step, the last included),
                    then moved to x's device and dtype
        x = denoise_step(x, ε̂, v, t, t′, alphas_cumprod, z)
        x = project(x, t′)            if project is given (e.g. inpainting)
        callback(i, t, x)             if callback is given (x is now x_t′: frames for a GIF)

    x: (B, C, H, W); est: (x_t, t) -> (ε̂, v or None); timesteps: strictly descending ints in
    [0, len(alphas_cumprod)).  Returns x₀: (B, C, H, W) in x's dtype.
    """
    check_image(x, "x")
    check_callable(est, "est")
    timesteps = check_timesteps(timesteps, check_alphas_cumprod(alphas_cumprod))
    check_i_start(i_start, timesteps)
    check_generator(generator)
    if project is not None:
        check_callable(project, "project", "None or a projection project(x, t_prev) -> x")
    if callback is not None:
        check_callable(callback, "callback", "None or a function callback(i, t, x)")
    # BEGIN SOLUTION A1.4: loop i from i_start; t′ is the next timestep or −1; draw z on the CPU, step, project, callback
    for i in range(i_start, len(timesteps)):
        t = timesteps[i]
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps, v = est(x, t)
        z = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        x = denoise_step(x, eps, v, t, t_prev, alphas_cumprod, z)
        if project is not None:
            x = project(x, t_prev)
        if callback is not None:
            callback(i, t, x)
    return x
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.5 — sampling from pure noise
# ---------------------------------------------------------------------------------------------

def sample(est, shape, timesteps, alphas_cumprod: torch.Tensor, generator: torch.Generator,
           project=None, callback=None, device=None) -> torch.Tensor:
    """§1.5: sampling is iterative denoising from pure noise: x = x_{timesteps[0]} ~ N(0, I) of
    ``shape`` (B, C, H, W), drawn on the CPU from ``generator`` (first, before the loop's draws) and
    moved to ``device`` (default: the CPU), then :func:`iterative_denoise` from i_start = 0.
    Returns x₀: (B, C, H, W) float32."""
    check_callable(est, "est")
    check_shape(shape)
    check_generator(generator)
    # BEGIN SOLUTION A1.5: x ~ N(0, I) from the generator, then the loop from i_start = 0
    x = torch.randn(tuple(shape), generator=generator).to(device or "cpu")
    return iterative_denoise(x, est, timesteps, 0, alphas_cumprod, generator, project, callback)
    # END SOLUTION
