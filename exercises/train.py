# Exercise stubs, generated from solutions/train.py by `python -m fundiff.exercises`.
# Replace every `raise NotImplementedError(...)` with your code; keep names and signatures.
"""Part B §1.2, §2.2–§2.5 — losses, the DDPM schedule and the DDPM samplers.

The timestep convention (one for training and sampling alike): integer t ∈ {0, …, T−1}, ᾱ indexed
0-based as in Part A (``forward.abar_at``), and the UNets see the normalized time t / (T − 1) ∈ [0, 1]
(:func:`normalize_t`) in training and in sampling.  Training draws t uniformly from {0, …, T−1};
sampling runs t = T−1, …, 0; the step from t = 0 lands "past the end", where ᾱ = 1, so it returns x̂₀.
An off-by-one between the two (training on t, sampling on t + 1) is the classic bug.

The DDPM step reuses Part A's math (``denoise.estimate_x0``, ``denoise.posterior_mean``) with the
stride 1 (t′ = t − 1).  Only the noise differs: Part A's fixed variance (for a model without
learned variance) is the posterior variance β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t; Part B, as the
course does, adds √β_t·z with the (slightly larger) β_t of the schedule.
"""
import torch
import torch.nn.functional as F

from .denoise import check_generator, check_shape, estimate_x0, posterior_mean
from .forward import check_callable, check_image, check_int, check_number, check_timestep, forward_process


# ---------------------------------------------------------------------------------------------
# Checks of the arguments (given: not an exercise)
# ---------------------------------------------------------------------------------------------

def check_schedule(schedule) -> int:
    """T; ValueError unless ``schedule`` is a dict of (T,) tensors 'betas' and 'alphas_cumprod'
    (what :func:`ddpm_schedule` returns)."""
    if not isinstance(schedule, dict) or not all(isinstance(schedule.get(k), torch.Tensor)
                                                 for k in ("betas", "alphas_cumprod")):
        got = sorted(schedule) if isinstance(schedule, dict) else type(schedule).__name__
        raise ValueError(f"schedule must be the dict of ddpm_schedule() with (T,) tensors 'betas', 'alphas', "
                         f"'alphas_cumprod', got {got}")
    T = len(schedule["betas"])
    if schedule["betas"].ndim != 1 or schedule["alphas_cumprod"].shape != (T,) or T < 2:
        raise ValueError(f"schedule's 'betas' and 'alphas_cumprod' must both be (T,) with T ≥ 2, got "
                         f"{tuple(schedule['betas'].shape)} and {tuple(schedule['alphas_cumprod'].shape)}")
    return T


def check_class_vectors(c, batch: int, name: str = "c") -> None:
    """ValueError unless ``c`` is a (B, K) floating tensor of finite values with B = ``batch``."""
    if not isinstance(c, torch.Tensor) or c.ndim != 2 or c.shape[0] != batch or not c.is_floating_point():
        got = f"{c.dtype} {tuple(c.shape)}" if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(f"{name} must be a ({batch}, num_classes) float tensor of class vectors (class_vector), "
                         f"got {got}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError(f"{name} holds NaN or inf values")


def add_noise(x: torch.Tensor, sigma: float, noise: torch.Tensor) -> torch.Tensor:
    """§1.2: z = x + σ·ε.  x, noise: (B, C, H, W).  Returns z: (B, C, H, W)."""
    check_image(x, "x")
    check_image(noise, "noise", like=x)
    check_number(sigma, "sigma (the noise level)", 0)
    raise NotImplementedError("B1.2: z = x + sigma * noise")


def denoiser_loss(model, x: torch.Tensor, sigma: float, noise: torch.Tensor) -> torch.Tensor:
    """§1.2: L = mean ‖D(x + σε) − x‖² (mean squared error over all elements), a 0-dim tensor."""
    check_callable(model, "model", "the denoiser D(x) (a UNet)")
    raise NotImplementedError("B1.2: noise x with add_noise, denoise it with model, MSE against the clean x")


def ddpm_schedule(beta1: float = 1e-4, beta2: float = 0.02, num_ts: int = 300) -> dict:
    """§2.2: β = linspace(β₁, β₂, T), α = 1 − β, ᾱ = cumprod(α).

    Returns {'betas': (T,), 'alphas': (T,), 'alphas_cumprod': (T,)} float32 tensors.
    """
    check_number(beta1, "beta1", 0, 1, low_open=True)
    check_number(beta2, "beta2", beta1, 1)
    if beta2 >= 1:
        raise ValueError(f"beta2 must be < 1 (β = 1 would erase the image in one step), got {beta2}")
    check_int(num_ts, "num_ts (the number of timesteps T)", 2)
    raise NotImplementedError("B2.2: linspace, 1 − β, cumprod")


def normalize_t(t: torch.Tensor, num_ts: int) -> torch.Tensor:
    """The UNet's time input: t / (T − 1) ∈ [0, 1], float32 (B,), for integer t: (B,)."""
    check_int(num_ts, "num_ts (the number of timesteps T)", 2)
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"t must be a (B,) int64 tensor of timesteps, got {type(t).__name__}")
    check_timestep(t, num_ts, past_end=False)
    raise NotImplementedError("B2.1: divide by T − 1 as a float")


def class_vector(labels: torch.Tensor, drop: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """§2.4: c = one_hot(labels) with the rows where ``drop`` is True zeroed (the unconditional
    examples).  labels: (B,) int64; drop: (B,) bool.  Returns c: (B, num_classes) float32.
    """
    check_int(num_classes, "num_classes", 1)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype != torch.int64:
        got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a (B,) int64 tensor of class indices (labels.long()), got {got}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{int(labels.min())}, "
                         f"{int(labels.max())}]")
    if not isinstance(drop, torch.Tensor) or drop.dtype != torch.bool or drop.shape != labels.shape:
        got = f"{drop.dtype} {tuple(drop.shape)}" if isinstance(drop, torch.Tensor) else type(drop).__name__
        raise ValueError(f"drop must be a ({len(labels)},) bool tensor (True = unconditional), got {got}")
    raise NotImplementedError("B2.4: one-hot, then multiply by ~drop")


def ddpm_loss(model, x0, t, eps, alphas_cumprod, c=None) -> torch.Tensor:
    """§2.2 / §2.4: L = mean ‖ε − ε_θ(√ᾱ_t·x₀ + √(1−ᾱ_t)·ε, t/(T−1) [, c])‖².

    x0, eps: (B, C, H, W); t: (B,) int64 in [0, T); alphas_cumprod: (T,); c: (B, K) or None
    (then the model is called without it).  Returns a 0-dim tensor.
    """
    check_callable(model, "model", "the UNet ε_θ(x_t, t[, c])")
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError(f"t must be a (B,) int64 tensor of timesteps, got "
                         f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if c is not None:
        check_class_vectors(c, len(t))
    raise NotImplementedError("B2.2: noise x0 to t with Part A's forward_process, predict ε with normalized t")


def ddpm_step(x_t, eps_hat, t: int, schedule: dict, z: torch.Tensor) -> torch.Tensor:
    """§2.3: one step from t to t − 1 with Part A's posterior mean and the fixed variance β_t:

        x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t,
        x_{t−1} = (√ᾱ_{t−1}·β_t/(1−ᾱ_t))·x̂₀ + (√α_t·(1−ᾱ_{t−1})/(1−ᾱ_t))·x_t + √β_t·z,

    z = 0 at the last step (t = 0, where ᾱ_{−1} = 1).  Part A's fixed variance is the posterior
    variance β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t; Part B, as in the course, uses the larger β_t.
    x_t, eps_hat, z: (B, C, H, W).  Returns x_{t−1}: (B, C, H, W).
    """
    check_image(x_t, "x_t")
    check_image(eps_hat, "eps_hat", like=x_t)
    check_image(z, "z (the step's noise)", like=x_t)
    T = check_schedule(schedule)
    if isinstance(t, torch.Tensor):
        raise ValueError(f"t must be a python int (one timestep for the whole batch), got a tensor")
    check_timestep(t, T, past_end=False)
    raise NotImplementedError("B2.3: estimate_x0, posterior_mean to t − 1, plus √β_t·z unless t = 0")


def cfg_noise(model, x_t, t_norm, c, guidance_scale: float) -> torch.Tensor:
    """§2.5: ε = ε_u + γ(ε_c − ε_u), ε_c = ε_θ(x_t, t, c), ε_u = ε_θ(x_t, t, 0) (c zeroed).

    x_t: (B, C, H, W); t_norm: (B,); c: (B, K).  Returns (B, C, H, W).
    """
    check_callable(model, "model", "the class-conditioned UNet ε_θ(x_t, t, c)")
    check_image(x_t, "x_t")
    check_class_vectors(c, x_t.shape[0])
    guidance_scale = check_number(guidance_scale, "guidance_scale (γ)")
    raise NotImplementedError("B2.5: two passes (or one batched pass), then the guidance combination")


@torch.no_grad()
def ddpm_sample(model, shape, schedule: dict, generator: torch.Generator, c=None,
                guidance_scale: float = 5.0, callback=None) -> torch.Tensor:
    """§2.3 / §2.5: sample from x_{T−1} ~ N(0, I) down to t = 0 with :func:`ddpm_step`.

    shape: (B, C, H, W); c: (B, K) class vectors or None (a time-only model); with c, the noise is
    guided by :func:`cfg_noise` at ``guidance_scale``.  All noise (x_{T−1} and every z) is drawn on
    the CPU from ``generator``, in that order, then moved to the model's device, so a seed gives the
    same samples on any device.  The model is put in eval() mode (and restored after).
    callback(t, x) is called after every step with the new x.  Returns x₀: (B, C, H, W).
    """
    if not callable(model) or not hasattr(model, "parameters"):
        raise ValueError(f"model must be a UNet (an nn.Module), got {type(model).__name__}")
    shape = check_shape(shape)
    check_schedule(schedule)
    check_generator(generator)
    if c is not None:
        check_class_vectors(c, shape[0])
        check_number(guidance_scale, "guidance_scale (γ)")
    if callback is not None:
        check_callable(callback, "callback", "None or a function callback(t, x)")
    raise NotImplementedError("B2.3: eval() (restore the mode after); x ~ N(0, I); for t = T−1 … 0: ε̂, z, ddpm_step, callback")
