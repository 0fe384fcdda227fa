"""Blame: which student function a failing graded test is about.

Every graded function has a **unit check**, a reference case that runs it on its own on small
fixed inputs (:data:`UNITS`), and the functions it builds on (:data:`DEPENDS`, as the docstrings of
the exercises ask: ``denoise_step`` uses ``estimate_x0``, ``posterior_mean`` and the variances,
``sample`` uses ``iterative_denoise``, …).  When a graded test fails, :func:`explain`

1. finds the function the failure is about (the *subject*): the one whose output a comparison found
   different (:func:`fundiff.grading.compare` knows who returned it, a reference case knows whose
   output each of its outputs is), else the one named in the error, else the test's ``uses``;
2. runs the unit checks of every function the subject and the test's other functions depend on,
   lowest first (cached for the run: a correct submission runs none);
3. if one of them fails its own check and everything *it* depends on passes, the message starts
   with that one — "fails because denoise.denoise_step fails its own check — fix A1.4 first" — and
   gives its failure and its hint instead of the test's; otherwise the message starts with the
   subject's name.

Points: a test that fails because of another function still loses its points (the score is what
works); the score table adds a line per blamed function saying how many tests and points of other
sections it costs, so fixing it first is the obvious move.
"""
from __future__ import annotations

import re
import time

from . import _HINT, GradingError, is_remote
from .sections import section_order

#: function: (section, unit case, hint)
UNITS = {
    "forward.abar_at": ("A1.1", "A1.1/unit_abar_at",
                        "ᾱ_t = alphas_cumprod[t] (0-based), ᾱ = 1 at t = −1; a (B,) t gives (B, 1, 1, 1); like's dtype"),
    "forward.forward_process": ("A1.1", "A1.1/forward_process",
                                "x_t = sqrt(abar_t)·x0 + sqrt(1 − abar_t)·eps with abar = alphas_cumprod[t] (0-based)"),
    "denoise.inference_timesteps": ("A0", "A0/unit_inference_timesteps",
                                    "ratio = T // n, then ratio·(n−1), …, ratio, 0 (n python ints, descending)"),
    "denoise.gaussian_blur": ("A1.2", "A1.2/unit_gaussian_blur",
                              "torchvision.transforms.functional.gaussian_blur(x, [k, k], [σ, σ])"),
    "denoise.best_blur": ("A1.2", "A1.2/unit_best_blur",
                          "keep the (k, σ) with the smallest MSE to the clean x0, kernel sizes in the outer loop"),
    "denoise.estimate_x0": ("A1.3", "A1.3/one_step",
                            "x̂0 = (x_t − sqrt(1 − abar_t)·eps) / sqrt(abar_t) with abar_t = alphas_cumprod[t]"),
    "denoise.posterior_mean": ("A1.4", "A1.4/unit_posterior_mean",
                               "α = ᾱ_t/ᾱ_t′, β = 1 − α; μ = √ᾱ_t′·β/(1 − ᾱ_t)·x̂0 + √α·(1 − ᾱ_t′)/(1 − ᾱ_t)·x_t"),
    "denoise.strided_timesteps": ("A1.4", "A1.4/unit_strided_timesteps",
                                  "range(start, -1, -stride): range's end is exclusive, so go to -1 to include 0"),
    "denoise.fixed_variance": ("A1.4", "A1.4/unit_fixed_variance",
                               "β = 1 − ᾱ_t/ᾱ_t′ with t′ the NEXT strided timestep, β̃ = (1 − ᾱ_t′)/(1 − ᾱ_t)·β"),
    "denoise.learned_variance": ("A1.4", "A1.4/unit_learned_variance",
                                 "log σ² = frac·log β + (1 − frac)·log β̃ (β̃ clamped ≥ 1e-20), frac = (v + 1)/2"),
    "denoise.denoise_step": ("A1.4", "A1.4/unit_denoise_step",
                             "x̂0 = estimate_x0, then posterior_mean(x̂0, x_t, t, t′) + σ·z, σ² learned (v) or fixed; "
                             "no noise when t′ = −1"),
    "denoise.iterative_denoise": ("A1.4", "A1.4/unit_iterative_denoise",
                                  "t′ = timesteps[i + 1] (−1 after the last); per step est(x, t), z from the CPU "
                                  "generator, denoise_step, project(x, t′), callback(i, t, x)"),
    "denoise.sample": ("A1.5", "A1.5/sample",
                       "x = randn(shape, generator=generator) first, then iterative_denoise from i_start = 0"),
    "guidance.cfg_estimator": ("A1.6", "A1.6/unit_cfg_estimator",
                               "ε = ε_u + γ·(ε_c − ε_u) with ε_u from the empty prompt; return the conditional v"),
    "guidance.sdedit": ("A1.7", "A1.7/unit_sdedit",
                        "draw ε first, forward_process x_orig to t = timesteps[i_start], then iterative_denoise from i_start"),
    "guidance.inpaint_projection": ("A1.7", "A1.7/unit_inpaint_projection",
                                    "m·x + (1 − m)·forward_process(x_orig, ε, t′), fresh ε from the generator each call"),
    "guidance.inpaint": ("A1.7", "A1.7/unit_inpaint",
                         "sample(est, x_orig.shape, …, project=inpaint_projection(x_orig, mask, …))"),
    "guidance.flip_upside_down": ("A1.8", "A1.8/unit_flip_upside_down", "reverse the HEIGHT axis (dim −2)"),
    "guidance.rotate90": ("A1.8", "A1.8/unit_rotate90", "torch.rot90(x, 1, dims=(-2, -1)): counter-clockwise"),
    "guidance.rotate270": ("A1.8", "A1.8/unit_rotate270", "torch.rot90(x, -1, dims=(-2, -1)): clockwise"),
    "guidance.rotate180": ("A1.8", "A1.8/unit_rotate180", "reverse both the height and the width axis"),
    "guidance.negate": ("A1.8", "A1.8/unit_negate", "−x"),
    "guidance.anagram_estimator": ("A1.8", "A1.8/unit_anagram_estimator",
                                   "ε = (ε₁(x_t) + inverse(ε₂(view(x_t))))/2, the same for v"),
    "guidance.hybrid_kernel": ("A1.9", "A1.9/unit_hybrid_kernel",
                               "s = size/64, σ′ = 2·s, kernel′ = 2·round(16·s) + 1"),
    "guidance.lowpass": ("A1.9", "A1.9/unit_lowpass", "lowpass = gaussian_blur(x, k, σ)"),
    "guidance.highpass": ("A1.9", "A1.9/unit_highpass", "highpass = x − lowpass(x)"),
    "guidance.hybrid_estimator": ("A1.9", "A1.9/unit_hybrid_estimator",
                                  "ε = lowpass(ε₁) + highpass(ε₂) with hybrid_kernel(x_t's height)"),
    "unet.conv": ("B1.1", "B1.1/conv", "Conv2d(in, out, 3, 1, 1), BatchNorm2d(out), GELU() in an nn.Sequential"),
    "unet.down_conv": ("B1.1", "B1.1/down_conv", "Conv2d(in, out, 3, 2, 1), BatchNorm2d(out), GELU()"),
    "unet.up_conv": ("B1.1", "B1.1/up_conv", "ConvTranspose2d(in, out, 4, 2, 1), BatchNorm2d(out), GELU()"),
    "unet.flatten": ("B1.1", "B1.1/flatten", "AvgPool2d(7), GELU()"),
    "unet.unflatten": ("B1.1", "B1.1/unflatten", "ConvTranspose2d(C, C, 7, 7, 0), BatchNorm2d(C), GELU()"),
    "unet.conv_block": ("B1.1", "B1.1/conv_block", "nn.Sequential(conv(in, out), conv(out, out))"),
    "unet.down_block": ("B1.1", "B1.1/down_block", "nn.Sequential(down_conv(in, out), conv_block(out, out))"),
    "unet.up_block": ("B1.1", "B1.1/up_block", "nn.Sequential(up_conv(in, out), conv_block(out, out))"),
    "unet.UNet": ("B1.1", "B1.1/unet", "skips a, b, c; cat([skip, h], dim=1) with the skip first; then head"),
    "unet.fc_block": ("B2.1", "B2.1/fc_block", "Linear(i, o), GELU(), Linear(o, o)"),
    "unet.TimeConditionalUNet": ("B2.1", "B2.1/time_unet",
                                 "h1 + fc1_t(t), u1 + fc2_t(t), both as (B, ·, 1, 1)"),
    "unet.ClassConditionalUNet": ("B2.4", "B2.4/class_unet",
                                  "h1 ← fc1_c(c)·h1 + fc1_t(t), u1 ← fc2_c(c)·u1 + fc2_t(t), as (B, ·, 1, 1)"),
    "train.add_noise": ("B1.2", "B1.2/add_noise", "z = x + σ·ε"),
    "train.denoiser_loss": ("B1.2", "B1.2/denoiser_loss", "F.mse_loss(D(add_noise(x, σ, ε)), x): the CLEAN x"),
    "train.normalize_t": ("B2.1", "B2.1/normalize_t", "t.float() / (T − 1)"),
    "train.ddpm_schedule": ("B2.2", "B2.2/ddpm_schedule", "β = linspace(β₁, β₂, T), α = 1 − β, ᾱ = cumprod(α), float32"),
    "train.ddpm_loss": ("B2.2", "B2.2/ddpm_loss",
                        "x_t = forward_process(x0, ε, t, ᾱ); F.mse_loss(model(x_t, normalize_t(t, T)[, c]), ε)"),
    "train.class_vector": ("B2.4", "B2.4/class_vector", "F.one_hot(labels, K).float(), rows where drop is True zeroed"),
    "train.ddpm_step": ("B2.3", "B2.3/ddpm_step",
                        "estimate_x0, posterior_mean to t − 1, plus √β_t·z unless t = 0"),
    "train.cfg_noise": ("B2.5", "B2.5/cfg_noise", "ε_u + γ·(ε_c − ε_u), ε_u with c zeroed"),
    "train.ddpm_sample": ("B2.3", "B2.3/ddpm_sample",
                          "eval(); x = randn first; for t = T−1 … 0: ε̂ (cfg_noise with c), z, ddpm_step, callback(t, x)"),
}

#: function: the graded functions it is built on (as the exercises' docstrings ask).
DEPENDS = {
    "forward.forward_process": ("forward.abar_at",),
    "denoise.estimate_x0": ("forward.abar_at",),
    "denoise.posterior_mean": ("forward.abar_at",),
    "denoise.fixed_variance": ("forward.abar_at",),
    "denoise.learned_variance": ("forward.abar_at",),
    "denoise.best_blur": ("denoise.gaussian_blur",),
    "denoise.denoise_step": ("denoise.estimate_x0", "denoise.posterior_mean", "denoise.fixed_variance",
                             "denoise.learned_variance"),
    "denoise.iterative_denoise": ("denoise.denoise_step",),
    "denoise.sample": ("denoise.iterative_denoise",),
    "guidance.sdedit": ("forward.forward_process", "denoise.iterative_denoise"),
    "guidance.inpaint_projection": ("forward.forward_process",),
    "guidance.inpaint": ("guidance.inpaint_projection", "denoise.sample"),
    "guidance.lowpass": ("denoise.gaussian_blur",),
    "guidance.highpass": ("guidance.lowpass",),
    "guidance.hybrid_estimator": ("guidance.hybrid_kernel", "guidance.lowpass", "guidance.highpass"),
    "unet.conv_block": ("unet.conv",),
    "unet.down_block": ("unet.down_conv", "unet.conv_block"),
    "unet.up_block": ("unet.up_conv", "unet.conv_block"),
    "unet.UNet": ("unet.conv_block", "unet.down_block", "unet.up_block", "unet.flatten", "unet.unflatten"),
    "unet.TimeConditionalUNet": ("unet.UNet", "unet.fc_block"),
    "unet.ClassConditionalUNet": ("unet.UNet", "unet.fc_block"),
    "train.denoiser_loss": ("train.add_noise",),
    "train.ddpm_loss": ("forward.forward_process", "train.normalize_t"),
    "train.ddpm_step": ("denoise.estimate_x0", "denoise.posterior_mean"),
    "train.ddpm_sample": ("train.ddpm_step", "train.normalize_t", "train.cfg_noise"),
}

UNIT_LIMIT_S = 30.0  # the most a unit check may take (its own clock, at most the failing test's limit)
_NAME = re.compile(r"\b(forward|denoise|guidance|train|unet)(?:\.py:\s?|\.)([A-Za-z_]\w*)")


def section_of(fn: str) -> str:
    return UNITS[fn][0]


def named_first(message: str) -> str | None:
    """The first graded function ('module.name') a message names ('denoise.py:sample' counts)."""
    for m in _NAME.finditer(message):
        fn = f"{m.group(1)}.{m.group(2)}"
        if fn in UNITS:
            return fn
    return None


def closure(functions) -> list[str]:
    """Every graded function the given ones depend on, directly or not, lowest first (a
    function comes after everything it depends on), the given ones included."""
    order: list[str] = []

    def visit(fn, seen=()):
        if fn in order or fn in seen or fn not in UNITS:
            return
        for dep in DEPENDS.get(fn, ()):
            visit(dep, seen + (fn,))
        order.append(fn)

    for fn in functions:
        visit(fn)
    return order


def unit_failure(impl, fn: str) -> str | None:
    """None when ``fn`` passes its unit check on ``impl``, else the check's message (run once per
    implementation and function; its own time limit, not the failing test's)."""
    cache = impl.__dict__.setdefault("_fundiff_units", {})
    if fn in cache:
        return cache[fn]
    from .cases import check_case

    section, name, hint = UNITS[fn]
    saved_hint, _HINT[0] = _HINT[0], hint
    remote = is_remote(impl)
    saved_deadline = impl.deadline if remote else None
    if remote:  # a clock of its own, no longer than the running test's limit
        impl.deadline = time.monotonic() + min(UNIT_LIMIT_S, getattr(impl, "limit", UNIT_LIMIT_S) or UNIT_LIMIT_S)
    try:
        check_case(name, impl)
        cache[fn] = None
    except GradingError as err:
        cache[fn] = str(err)
    except Exception as err:  # noqa: BLE001 - what the student returned broke the check itself
        cache[fn] = f"{fn}'s unit check failed: {type(err).__name__}: {err}"
    finally:
        _HINT[0] = saved_hint
        if remote:
            impl.deadline = saved_deadline
    return cache[fn]


def root_cause(impl, functions) -> tuple[str, str] | None:
    """(function, its unit check's message) for the first function, lowest first, of the
    dependencies of ``functions`` that fails its own unit check while all it depends on pass;
    ties go to the earlier course section.  None when they all pass."""
    failing = {}
    for fn in closure(functions):
        msg = unit_failure(impl, fn)
        if msg is not None and not any(dep in failing for dep in closure(DEPENDS.get(fn, ()))):
            failing[fn] = msg
    if not failing:
        return None
    order = closure(functions)
    best = min(failing, key=lambda fn: (section_order(section_of(fn)), order.index(fn)))
    return best, failing[best]


def _without_hint(message: str) -> str:
    return "\n".join(line for line in message.splitlines() if not line.lstrip().startswith("hint:")).strip()


def explain(impl, err: GradingError, uses=()) -> GradingError:
    """The failure ``err`` of a graded test, with the guilty function named first (see the module's
    docstring).  ``uses``: the functions the test grades or called.  The returned error's
    ``function`` is the guilty function and ``blamed`` the dependency it was traced to (or None)."""
    message = str(err)
    if message.startswith("time limit") or "ran past its time limit" in message:
        return _error(message, named_first(message), None)  # the watchdog names the function that hung
    subject = getattr(err, "function", None) or named_first(message) or next((f for f in uses if f in UNITS), None)
    if subject not in UNITS:
        return _error(message, subject, None)
    related = [subject, *getattr(err, "uses", ()), *uses]
    try:
        found = root_cause(impl, [fn for fn in related if fn in UNITS])
    except Exception:  # noqa: BLE001 - blaming must never hide the failure itself
        found = None
    if found is not None and found[0] != subject:
        fn, why = found
        section, _, hint = UNITS[fn]
        text = (f"fails because {fn} fails its own check — fix {section} first\n"
                f"  {fn}: {_without_hint(why)}\n"
                f"  (this test: {subject}: {_without_hint(message)})\n"
                f"  hint ({section}): {hint}")
        return _error(text, fn, fn)
    if named_first(message) != subject:
        message = f"{subject}: {message}"
    return _error(message, subject, None)


def _error(message: str, function, blamed) -> GradingError:
    out = GradingError(message, function=function)
    out.blamed = blamed
    return out
