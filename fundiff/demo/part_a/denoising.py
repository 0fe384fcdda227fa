"""Part A §1.1–§1.5 — the forward process, classical / one-step / iterative denoising, sampling.

    §1.1  x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε                      (forward.forward_process)
    §1.2  the best Gaussian blur of x_t                     (denoise.best_blur)
    §1.3  x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t                     (denoise.estimate_x0)
    §1.4  the DDPM loop from timesteps[i_start]             (denoise.iterative_denoise)
    §1.5  the same loop from pure noise                     (denoise.sample)
"""
from __future__ import annotations

import torch

from ..context import Ctx
from .setup import rows_of, test_images, timesteps_of


def noisy_versions(ctx: Ctx, x0: torch.Tensor, ts=(250, 500, 750)):
    gen = ctx.gen()
    out = []
    for t in ts:
        eps = torch.randn(x0.shape, generator=gen)
        out.append(ctx.f("forward.forward_process")(x0, eps, t, ctx.model.alphas_cumprod))
    return out


def sec_a11(ctx: Ctx):
    """§1.1: the test image noised to t = 250, 500, 750: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε."""
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    ctx.table("forward", ["original", "t = 250", "t = 500", "t = 750"], [(label, [x0] + xs)],
              f"x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (your forward.forward_process) on the test image ({label}), "
              f"ε ~ N(0, I) from seed {ctx.seed}, ᾱ of the {ctx.model.name} model (T = {len(ctx.model.alphas_cumprod)}).")


BLUR_KERNELS = (3, 5, 7, 9)
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)


def best_blur(ctx: Ctx, x_noisy, x0):
    """(kernel, σ, blurred): the implementation's best_blur over the kernel/σ grid (scaled to the image)."""
    scale = ctx.model.image_shape[-1] / 28
    ks = tuple(2 * round((k - 1) / 2 * scale) + 1 for k in BLUR_KERNELS)
    ss = tuple(s * scale for s in BLUR_SIGMAS)
    return ctx.f("denoise.best_blur")(x_noisy, x0, ks, ss)


def sec_a12(ctx: Ctx):
    """§1.2: the best Gaussian blur of each noisy image (the kernel and σ closest to x₀)."""
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    blurred, cols = [], []
    for t, x in zip((250, 500, 750), xs):
        k, s, y = best_blur(ctx, x, x0)
        blurred.append(y)
        cols.append(f"t = {t}: kernel {k}, σ = {s:g}")
    ctx.table("blur", cols, [("noisy", xs), ("Gaussian blur", blurred)],
              f"Classical denoising of the test image ({label}) with your denoise.best_blur: at each t the "
              f"kernel size and σ with the lowest error to the original, searched over kernels "
              f"{list(BLUR_KERNELS)} and σ {list(BLUR_SIGMAS)} (scaled to {ctx.model.image_shape[-1]} px).")


def sec_a13(ctx: Ctx):
    """§1.3: one-step estimates x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t of the noisy test image."""
    model, plan = ctx.model, ctx.plan
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    est = model.estimator(plan["generic"])
    outs = []
    for t, x in zip((250, 500, 750), xs):
        eps, _ = est(x, t)
        outs.append(ctx.f("denoise.estimate_x0")(x, eps, t, model.alphas_cumprod))
    ctx.table("one_step", ["original", "noisy", "one-step estimate x̂₀"],
              [(f"t = {t}", [x0, x, y]) for t, x, y in zip((250, 500, 750), xs, outs)],
              f"One-step denoising x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t (your denoise.estimate_x0) of the test image "
              f"({label}), ε̂ from the {model.name} model with prompt {plan['generic_label']}, seed {ctx.seed}.")


def sec_a14(ctx: Ctx):
    """§1.4: iterative denoising from i_start = 10 (every 5th step shown) beside one-step denoising and
    the best blur of the same x_t; a GIF of all steps."""
    model, plan = ctx.model, ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    x0 = rows_of(imgs)
    ts = timesteps_of(ctx)
    i_start = 10
    t0 = ts[i_start]
    gen = ctx.gen()
    eps = torch.randn(x0.shape, generator=gen)
    x_t = ctx.f("forward.forward_process")(x0, eps, t0, model.alphas_cumprod)
    est = model.estimator(plan["generic"])
    frames, shown = [x_t], {}

    def keep(i, t, x):
        frames.append(x.detach().clone())
        if (i - i_start) % 5 == 4 or i == len(ts) - 1:
            shown[ts[i + 1] if i + 1 < len(ts) else -1] = x.detach().clone()

    final = ctx.f("denoise.iterative_denoise")(x_t, est, ts, i_start, model.alphas_cumprod, gen, callback=keep)
    eps_hat, _ = est(x_t, t0)
    one = ctx.f("denoise.estimate_x0")(x_t, eps_hat, t0, model.alphas_cumprod)
    k, s, blurred = best_blur(ctx, x_t, x0)
    steps = list(shown.items())
    ctx.table("steps", [f"t = {t0} (start)"] + [f"t = {t}" if t >= 0 else "x₀ (final)" for t, _ in steps],
              [(lab, [x_t[j]] + [x[j] for _, x in steps]) for j, (lab, _) in enumerate(imgs)],
              f"Iterative denoising (your denoise.iterative_denoise) from i_start = {i_start} (t = {t0}) over "
              f"the strided timesteps {ts[0]}, {ts[1]}, …, {ts[-2]}, {ts[-1]} ({len(ts)} of them): every 5th step. "
              f"Prompt {plan['generic_label']}, seed {ctx.seed}.")
    ctx.table("compare", ["original", f"noisy (t = {t0})", "iterative", "one-step", f"blur (k {k}, σ {s:g})"],
              [(lab, [x0[j], x_t[j], final[j], one[j], blurred[j]]) for j, (lab, _) in enumerate(imgs)],
              "The final result beside one-step denoising of the same x_t and the best Gaussian blur.")
    ctx.gif("steps", frames, f"All {len(frames) - 1} steps of the iterative denoising (GIF, looping).",
            nrow=len(imgs), scale=ctx.scale_for(model.image_shape[1], 140))


def sec_a15(ctx: Ctx):
    """§1.5: samples from pure noise (the loop from i_start = 0), no guidance."""
    model, plan = ctx.model, ctx.plan
    n = 5
    ts = timesteps_of(ctx)
    x = ctx.f("denoise.sample")(model.estimator(plan["generic"]), (n, *model.image_shape), ts,
                                model.alphas_cumprod, ctx.gen())
    ctx.image("samples", x, f"{n} samples (your denoise.sample: the loop from pure noise, i_start = 0, "
              f"{len(ts)} strided timesteps) with prompt {plan['generic_label']}, no guidance, seed {ctx.seed}.",
              nrow=n)
