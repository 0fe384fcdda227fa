# Exercise stubs, generated from solutions/forward.py by `python -m fundiff.exercises`.
# Replace every `raise NotImplementedError(...)` with your code; keep names and signatures.
"""Part A §1.1 — the forward process, and the one convention every other module relies on.

Timesteps are integers t ∈ {0, …, T−1} indexing ``alphas_cumprod`` (ᾱ) 0-based, as in diffusers:
ᾱ_t = ∏_{s ≤ t} (1 − β_s), so even t = 0 adds a little noise.  Anything "past the end" (t = −1,
reached after the last denoising step) has ᾱ = 1: the clean image.
"""
import math
import numbers

import torch


# ---------------------------------------------------------------------------------------------
# Checks of the arguments (given: not an exercise).  Every module of the course uses them, so a
# bad input is refused where it enters with a message saying what was expected.
# ---------------------------------------------------------------------------------------------

def check_alphas_cumprod(alphas_cumprod) -> int:
    """T = len(alphas_cumprod); ValueError unless it is a non-empty 1-D floating tensor."""
    if not isinstance(alphas_cumprod, torch.Tensor) or alphas_cumprod.ndim != 1 or not len(alphas_cumprod) \
            or not alphas_cumprod.is_floating_point():
        got = (f"{alphas_cumprod.dtype} {tuple(alphas_cumprod.shape)}" if isinstance(alphas_cumprod, torch.Tensor)
               else type(alphas_cumprod).__name__)
        raise ValueError(f"alphas_cumprod must be a (T,) floating tensor (e.g. model.alphas_cumprod), got {got}")
    return len(alphas_cumprod)


def check_timestep(t, num_train_timesteps: int, name: str = "t", past_end: bool = True):
    """ValueError unless ``t`` is an integer timestep in [0, T) (−1, "past the end", allowed when
    ``past_end``): a python int or an integer tensor of shape () or (B,).  Floats, bools and NaN are
    refused.  Returns t unchanged."""
    lo = -1 if past_end else 0
    where = f"[{lo}, {num_train_timesteps})" + (" (−1 = past the end, ᾱ = 1)" if past_end else "")
    if isinstance(t, torch.Tensor):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool or t.ndim > 1:
            raise ValueError(f"{name} must be an integer timestep in {where}: a python int or an int64 tensor "
                             f"of shape (B,), got a {t.dtype} tensor of shape {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < lo or int(t.max()) >= num_train_timesteps):
            raise ValueError(f"{name} must lie in {where}, got values in [{int(t.min())}, {int(t.max())}]")
        return t
    if isinstance(t, bool) or not isinstance(t, numbers.Integral):
        raise ValueError(f"{name} must be an integer timestep in {where}, got {t!r} ({type(t).__name__})")
    if not lo <= t < num_train_timesteps:
        raise ValueError(f"{name} must be an integer timestep in {where}, got {t}")
    return t


def check_image(x, name: str = "x", value_range=None, like=None, tol: float = 1e-3) -> None:
    """ValueError unless ``x`` is a (B, C, H, W) floating tensor of finite values (no NaN or inf),
    of ``like``'s shape when given and inside ``value_range`` (up to ``tol``) when given."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a (B, C, H, W) torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a (B, C, H, W) tensor (a batch of images), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (e.g. float32), got {x.dtype}: use x.float()")
    if like is not None and x.shape != like.shape:
        raise ValueError(f"{name} must have the shape of the images, {tuple(like.shape)}, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or inf values ({int((~torch.isfinite(x)).sum())} of {x.numel()}): "
                         "expected finite numbers")
    if value_range is not None and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < value_range[0] - tol or hi > value_range[1] + tol:
            hint = ": map [0, 1] images with x * 2 - 1" if lo >= 0 and hi <= 1 else (
                ": map 0..255 pixels with x / 127.5 - 1" if lo >= 0 else "")
            raise ValueError(f"{name} values must lie in {list(value_range)}, got [{lo:.3g}, {hi:.3g}]{hint}")


def check_number(v, name: str, low=None, high=None, low_open: bool = False) -> float:
    """``v`` as a float; ValueError unless it is a finite real number (not a bool) in [low, high]
    ((low, high] when ``low_open``)."""
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.dtype == torch.bool:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if low is not None and (v <= low if low_open else v < low) or high is not None and v > high:
        lo = "" if low is None else f"{'>' if low_open else '≥'} {low}"
        hi = "" if high is None else f"≤ {high}"
        raise ValueError(f"{name} must be {' and '.join(x for x in (lo, hi) if x)}, got {v!r}")
    return float(v)


def check_int(v, name: str, low=None) -> int:
    """``v``; ValueError unless it is an integer (not a bool or float) ≥ ``low``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an integer{'' if low is None else f' ≥ {low}'}, got {v!r} "
                         f"({type(v).__name__})")
    if low is not None and v < low:
        raise ValueError(f"{name} must be an integer ≥ {low}, got {v}")
    return int(v)


def check_callable(f, name: str, what: str = "a noise estimator est(x_t, t) -> (eps, v)") -> None:
    """ValueError unless ``f`` is callable."""
    if not callable(f):
        raise ValueError(f"{name} must be {what}, got {type(f).__name__} {f!r:.60}")


# ---------------------------------------------------------------------------------------------
# §1.1
# ---------------------------------------------------------------------------------------------

def abar_at(alphas_cumprod: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """ᾱ_t, shaped to broadcast against ``like`` (B, C, H, W): a scalar t gives a 0-dim tensor,
    a (B,) tensor of timesteps gives (B, 1, 1, 1).  t = −1 gives ᾱ = 1 (past the end).

    alphas_cumprod: (T,).  Returns a tensor of ``like``'s dtype and device.
    """
    check_timestep(t, check_alphas_cumprod(alphas_cumprod))
    raise NotImplementedError("A1.1: index ᾱ (with ᾱ_{-1} = 1), then reshape a batch of t to (B, 1, 1, 1)")


def forward_process(x0: torch.Tensor, eps: torch.Tensor, t, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε.

    x0, eps: (B, C, H, W); t: int or (B,) long tensor; alphas_cumprod: (T,).
    Returns x_t: (B, C, H, W) in x0's dtype.  The noise is an argument: this function draws nothing.
    """
    check_image(x0, "x0")
    check_image(eps, "eps (the noise)", like=x0)
    check_timestep(t, check_alphas_cumprod(alphas_cumprod))
    if isinstance(t, torch.Tensor) and t.ndim == 1 and len(t) != x0.shape[0]:
        raise ValueError(f"t must hold one timestep per image: shape ({x0.shape[0]},), got {tuple(t.shape)}")
    raise NotImplementedError("A1.1: look up ᾱ_t with abar_at, then scale and add")
