"""Part A §1.6–§1.9 — tricks built on one sampling loop: classifier-free guidance, image-to-image
(SDEdit), inpainting, visual anagrams and hybrid images.

A noise estimator is ``est(x_t, t) -> (eps, v)`` (see denoise.py).  CFG, anagrams and hybrids are
*estimator transforms*: they take estimators and return a new one, so they compose (an anagram of
two CFG estimators, a hybrid inpainting).  Inpainting is a *projection* applied after every step of
``denoise.iterative_denoise``; SDEdit is "noise the image to timesteps[i_start], then run the loop".
"""
import torch

from .denoise import gaussian_blur, iterative_denoise, sample, check_timesteps, check_i_start, check_generator
from .forward import check_alphas_cumprod, check_callable, check_image, check_int, check_number, forward_process

#: The value range of the images of Part A (every pretrained model's ``value_range``).
VALUE_RANGE = (-1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# §1.6 — classifier-free guidance
# ---------------------------------------------------------------------------------------------

def cfg_estimator(est_cond, est_uncond, guidance_scale: float = 7.0):
    """§1.6: classifier-free guidance as an estimator:

        ε = ε_u + γ · (ε_c − ε_u),   ε_c, v_c = est_cond(x_t, t),  ε_u, _ = est_uncond(x_t, t),

    γ = ``guidance_scale`` (γ = 1 gives ε_c; γ = 0 gives ε_u); v is the conditional pass's v_c.
    Returns est(x_t, t) -> (ε, v_c).
    """
    check_callable(est_cond, "est_cond")
    check_callable(est_uncond, "est_uncond")
    guidance_scale = check_number(guidance_scale, "guidance_scale (γ)")
    # BEGIN SOLUTION A1.6: call both estimators, extrapolate from ε_u towards ε_c by γ, keep v_c
    def est(x_t, t):
        eps_c, v_c = est_cond(x_t, t)
        eps_u, _ = est_uncond(x_t, t)
        return eps_u + guidance_scale * (eps_c - eps_u), v_c

    return est
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.7 — image-to-image translation: SDEdit and inpainting
# ---------------------------------------------------------------------------------------------

def sdedit(x_orig: torch.Tensor, est, timesteps, i_start: int, alphas_cumprod: torch.Tensor,
           generator: torch.Generator, callback=None, project=None) -> torch.Tensor:
    """§1.7 (SDEdit): noise the clean image to t = timesteps[i_start], then denoise from there:

        ε ~ N(0, I) of x_orig's shape, drawn on the CPU from ``generator`` (before the loop's draws),
        x_t = forward_process(x_orig, ε, t),
        x₀ = iterative_denoise(x_t, est, timesteps, i_start, …, project, callback).

    A small i_start (a large t) gives a new image loosely like x_orig; a large one stays close to it.
    x_orig: (B, C, H, W) in [−1, 1].  Returns x₀: (B, C, H, W).
    """
    check_image(x_orig, "x_orig (the image to edit)", VALUE_RANGE)
    check_callable(est, "est")
    timesteps = check_timesteps(timesteps, check_alphas_cumprod(alphas_cumprod))
    check_i_start(i_start, timesteps)
    check_generator(generator)
    # BEGIN SOLUTION A1.7: draw ε on the CPU, forward-process x_orig to timesteps[i_start], then the loop from i_start
    eps = torch.randn(x_orig.shape, generator=generator).to(x_orig.device, x_orig.dtype)
    x_t = forward_process(x_orig, eps, timesteps[i_start], alphas_cumprod)
    return iterative_denoise(x_t, est, timesteps, i_start, alphas_cumprod, generator, project, callback)
    # END SOLUTION


def check_mask(mask: torch.Tensor, x_orig: torch.Tensor) -> None:
    """ValueError unless ``mask`` is a tensor with values in [0, 1] that broadcasts to x_orig's shape
    (e.g. (H, W), (1, 1, H, W) or (B, 1, H, W) for x_orig (B, C, H, W))."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.is_complex() or (mask.is_floating_point() and not bool(torch.isfinite(mask).all())):
        raise ValueError("mask holds NaN, inf or complex values: expected numbers in [0, 1] (1 where new content goes)")
    try:
        ok = torch.broadcast_shapes(mask.shape, x_orig.shape) == x_orig.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the image's shape "
                         f"{tuple(x_orig.shape)}: use (H, W), (1, 1, H, W) or (B, 1, H, W)")
    if mask.numel() and (float(mask.min()) < 0 or float(mask.max()) > 1):
        raise ValueError(f"mask values must be in [0, 1] (1 where new content goes), got "
                         f"[{float(mask.min()):.3g}, {float(mask.max()):.3g}]")


def inpaint_projection(x_orig: torch.Tensor, mask: torch.Tensor, alphas_cumprod: torch.Tensor,
                       generator: torch.Generator):
    """§1.7.2: the inpainting projection, applied after each step (x is now x_t′):

        project(x, t′) = m · x + (1 − m) · forward_process(x_orig, ε, t′),
        ε ~ N(0, I) of x's shape, drawn fresh on the CPU from ``generator`` at every call,

    m = ``mask`` (1 where new content goes, 0 where the original stays).  The original is
    **re-noised** to the current t′ (not pasted clean); at t′ = −1 (ᾱ = 1) it is x_orig itself.
    x_orig: (B or 1, C, H, W); mask: broadcasts to x_orig.  Returns project(x, t′) -> x.
    """
    check_image(x_orig, "x_orig (the image to inpaint)", VALUE_RANGE)
    check_mask(mask, x_orig)
    check_alphas_cumprod(alphas_cumprod)
    check_generator(generator)
    # BEGIN SOLUTION A1.7: a closure drawing ε from the generator, forward_process of x_orig to t′, mixed by the mask
    def project(x, t_prev):
        eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        x_known = forward_process(x_orig.to(x.device, x.dtype), eps, t_prev, alphas_cumprod)
        m = mask.to(x.device, x.dtype)
        return m * x + (1 - m) * x_known

    return project
    # END SOLUTION


def inpaint(x_orig: torch.Tensor, mask: torch.Tensor, est, timesteps, alphas_cumprod: torch.Tensor,
            generator: torch.Generator, callback=None) -> torch.Tensor:
    """§1.7.2: fill the region where mask = 1 with new content that fits the rest of x_orig:
    ``denoise.sample`` from pure noise of x_orig's shape (on x_orig's device) with
    ``project = inpaint_projection(x_orig, mask, alphas_cumprod, generator)``.
    Draw order on ``generator``: x_T, then per step the loop's z, then the projection's ε.
    x_orig: (B, C, H, W) in [−1, 1]; mask: broadcasts to it.  Returns (B, C, H, W).
    """
    check_image(x_orig, "x_orig (the image to inpaint)", VALUE_RANGE)
    check_mask(mask, x_orig)
    check_callable(est, "est")
    check_timesteps(timesteps, check_alphas_cumprod(alphas_cumprod))
    check_generator(generator)
    # BEGIN SOLUTION A1.7: build the projection, then sample with it
    project = inpaint_projection(x_orig, mask, alphas_cumprod, generator)
    return sample(est, x_orig.shape, timesteps, alphas_cumprod, generator, project=project,
                  callback=callback, device=x_orig.device)
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.8 — visual anagrams
# ---------------------------------------------------------------------------------------------

def check_view_input(x, square: bool = False) -> None:
    """ValueError unless x is a tensor (..., H, W) (square when ``square``)."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"a view takes an image tensor (..., H, W), got {got}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"a 90° rotation keeps the shape of square images only, got {x.shape[-2]}×{x.shape[-1]}")


def flip_upside_down(x: torch.Tensor) -> torch.Tensor:
    """§1.8: turn x (..., H, W) upside down: reverse the height axis (dim −2), not the width."""
    check_view_input(x)
    # BEGIN SOLUTION A1.8: torch.flip along dim -2
    return torch.flip(x, dims=[-2])
    # END SOLUTION


def rotate90(x: torch.Tensor) -> torch.Tensor:
    """§1.8 (beyond the course): rotate x (..., H, W) by 90° counter-clockwise (square images);
    its inverse is :func:`rotate270`."""
    check_view_input(x, square=True)
    # BEGIN SOLUTION A1.8: torch.rot90 with k=1 over the last two dims
    return torch.rot90(x, 1, dims=(-2, -1))
    # END SOLUTION


def rotate270(x: torch.Tensor) -> torch.Tensor:
    """§1.8: rotate x (..., H, W) by 90° clockwise (270° counter-clockwise), the inverse of rotate90."""
    check_view_input(x, square=True)
    # BEGIN SOLUTION A1.8: torch.rot90 with k=-1 over the last two dims
    return torch.rot90(x, -1, dims=(-2, -1))
    # END SOLUTION


def rotate180(x: torch.Tensor) -> torch.Tensor:
    """§1.8: rotate x (..., H, W) by 180° (both spatial axes reversed); its own inverse."""
    check_view_input(x)
    # BEGIN SOLUTION A1.8: flip both the height and the width axis
    return torch.flip(x, dims=[-2, -1])
    # END SOLUTION


def negate(x: torch.Tensor) -> torch.Tensor:
    """§1.8: the negative image −x (light ↔ dark); its own inverse."""
    check_view_input(x)
    # BEGIN SOLUTION A1.8: minus x
    return -x
    # END SOLUTION


# view name -> (view, inverse view) for anagram_estimator
VIEWS = {
    "flip": (flip_upside_down, flip_upside_down),
    "rot90": (rotate90, rotate270),
    "rot180": (rotate180, rotate180),
    "negate": (negate, negate),
}


def anagram_estimator(est1, est2, view=flip_upside_down, inverse=None):
    """§1.8: a visual anagram: an image that looks like prompt 1 as it is and like prompt 2 through
    ``view`` (upside down by default):

        ε = (ε₁(x_t) + view⁻¹(ε₂(view(x_t)))) / 2,
        v = (v₁ + view⁻¹(v₂)) / 2   (None if either is None),

    ``inverse`` = view⁻¹ (default: ``view`` itself, right for flips, 180° and negation; rotate90 needs
    rotate270).  For ``negate`` the noise maps back with the same negation.  Each estimator may
    itself be a CFG estimator.  Returns est(x_t, t) -> (ε, v).
    """
    check_callable(est1, "est1")
    check_callable(est2, "est2")
    names = ", ".join(f"VIEWS[{k!r}]" for k in VIEWS)
    check_callable(view, "view", f"a function of an image (flip_upside_down, …; the pairs of {names} are (view, inverse))")
    if inverse is not None:
        check_callable(inverse, "inverse", "None or the inverse function of view")
    inverse = view if inverse is None else inverse
    # BEGIN SOLUTION A1.8: ε₁ on x_t, ε₂ on view(x_t) mapped back with inverse, average ε (and v)
    def est(x_t, t):
        eps1, v1 = est1(x_t, t)
        eps2, v2 = est2(view(x_t), t)
        eps = (eps1 + inverse(eps2)) / 2
        v = None if v1 is None or v2 is None else (v1 + inverse(v2)) / 2
        return eps, v

    return est
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# §1.9 — hybrid images
# ---------------------------------------------------------------------------------------------

def hybrid_kernel(image_size: int, kernel_size: int = 33, sigma: float = 2.0, reference_size: int = 64):
    """§1.9: the hybrid-image Gaussian for an image of ``image_size`` pixels, scaled from the one of
    the ``reference_size`` = 64 px course images (kernel 33, σ = 2):

        s = image_size / reference_size,  σ′ = σ · s,  kernel′ = 2 · round((kernel − 1)/2 · s) + 1

    (odd, ≥ 1).  E.g. 64 → (33, 2.0), 256 → (129, 8.0), 28 → (15, 0.875).  Returns (kernel′, σ′).
    """
    check_int(image_size, "image_size", 1)
    check_int(kernel_size, "kernel_size", 1)
    check_number(sigma, "sigma", 0, low_open=True)
    check_int(reference_size, "reference_size", 1)
    # BEGIN SOLUTION A1.9: the scale s, then σ·s and an odd kernel 2·round((k − 1)/2·s) + 1
    s = image_size / reference_size
    return 2 * max(0, round((kernel_size - 1) / 2 * s)) + 1, sigma * s
    # END SOLUTION


def lowpass(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """§1.9: the low frequencies of x (B, C, H, W): a Gaussian blur (denoise.gaussian_blur)."""
    # BEGIN SOLUTION A1.9: gaussian_blur
    return gaussian_blur(x, kernel_size, sigma)
    # END SOLUTION


def highpass(x: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """§1.9: the high frequencies of x (B, C, H, W): x − lowpass(x), so lowpass + highpass = x."""
    # BEGIN SOLUTION A1.9: x minus its lowpass
    return x - lowpass(x, kernel_size, sigma)
    # END SOLUTION


def hybrid_estimator(est_low, est_high, kernel_size=None, sigma=None):
    """§1.9: a hybrid image: prompt 1 seen from afar (low frequencies), prompt 2 up close (high):

        ε = lowpass(ε₁) + highpass(ε₂),   v = lowpass(v₁) + highpass(v₂)  (None if either is None),

    Gaussian kernel 33, σ = 2 for 64-px images; ``kernel_size``/``sigma`` None → scaled to x_t's
    height with :func:`hybrid_kernel`.  Returns est(x_t, t) -> (ε, v).
    """
    check_callable(est_low, "est_low")
    check_callable(est_high, "est_high")
    if kernel_size is not None and (check_int(kernel_size, "kernel_size", 1) % 2 != 1):
        raise ValueError(f"kernel_size must be None or a positive odd int, got {kernel_size}")
    if sigma is not None:
        check_number(sigma, "sigma", 0, low_open=True)
    # BEGIN SOLUTION A1.9: pick the kernel (hybrid_kernel of x_t's height when None), then low of ε₁ + high of ε₂
    def est(x_t, t):
        k, s = hybrid_kernel(x_t.shape[-2])
        k = k if kernel_size is None else kernel_size
        s = s if sigma is None else sigma
        eps1, v1 = est_low(x_t, t)
        eps2, v2 = est_high(x_t, t)
        eps = lowpass(eps1, k, s) + highpass(eps2, k, s)
        v = None if v1 is None or v2 is None else lowpass(v1, k, s) + highpass(v2, k, s)
        return eps, v

    return est
    # END SOLUTION
