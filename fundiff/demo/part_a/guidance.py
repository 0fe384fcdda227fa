"""Part A §1.6–§1.9 — classifier-free guidance and what it makes possible.

    §1.6    ε = ε_u + γ(ε_c − ε_u)                                 (guidance.cfg_estimator)
    §1.7    SDEdit: noise to timesteps[i_start], denoise from there (guidance.sdedit)
    §1.7.1  … on web (typeset) and hand-drawn images
    §1.7.2  inpainting: x_t ← m·x_t + (1−m)·forward(x_orig, t)      (guidance.inpaint)
    §1.7.3  text-conditional image-to-image (SDEdit with a prompt and CFG)
    §1.8    visual anagrams: ε = (ε₁(x_t) + flip(ε₂(flip(x_t))))/2  (guidance.anagram_estimator)
    §1.9    hybrid images: ε = lowpass(ε₁) + highpass(ε₂)          (guidance.hybrid_estimator)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...pictures import gaussian_kernel_size
from ..context import Ctx
from .setup import est_of, fmt_prompt, rows_of, test_images, timesteps_of


def sec_a16(ctx: Ctx):
    """§1.6: samples with classifier-free guidance ε = ε_u + γ(ε_c − ε_u), γ = 7."""
    model, plan = ctx.model, ctx.plan
    n, gamma = 5, 7.0
    ts = timesteps_of(ctx)
    rows = []
    gen = ctx.gen()
    for p in plan["cfg_prompts"][:1] if ctx.quick else plan["cfg_prompts"]:
        x = ctx.f("denoise.sample")(est_of(ctx, p, gamma), (n, *model.image_shape), ts, model.alphas_cumprod, gen)
        rows.append((f"prompt {fmt_prompt(p)}", list(x)))
    ctx.table("cfg", [f"sample {i + 1}" for i in range(n)], rows,
              f"{n} samples per prompt with classifier-free guidance (your guidance.cfg_estimator) γ = {gamma:g}: "
              f"ε = ε_u + γ(ε_c − ε_u), ε_u from the null prompt ''; seed {ctx.seed} (one generator, rows in turn).")


def sdedit_rows(ctx: Ctx, name: str, imgs: list, est, what: str):
    """A table of SDEdit results of ``imgs`` [(label, (1, C, H, W))] with estimator ``est``: one row
    per image, one column per i_start of the plan, the original last."""
    model, plan = ctx.model, ctx.plan
    ts = timesteps_of(ctx)
    istarts = plan["sdedit_istarts"][::2] if ctx.quick else plan["sdedit_istarts"]
    x0 = rows_of(imgs)
    outs = []
    for i_start in istarts:
        outs.append(ctx.f("guidance.sdedit")(x0, est, ts, i_start, model.alphas_cumprod, ctx.gen()))
    ctx.table(name, [f"i_start = {i} (t = {ts[i]})" for i in istarts] + ["original"],
              [(lab, [o[j] for o in outs] + [x0[j]]) for j, (lab, _) in enumerate(imgs)],
              f"SDEdit (your guidance.sdedit): noise the image to timesteps[i_start], then denoise from there; "
              f"{what}; seed {ctx.seed} for every i_start.")


def sec_a17(ctx: Ctx):
    """§1.7: SDEdit of the test images at every i_start."""
    plan = ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    sdedit_rows(ctx, "sdedit", imgs, ctx.model.estimator(plan["generic"]),
                f"prompt {plan['generic_label']} (classifier-free guidance against the null prompt would change nothing)")


def sec_a171(ctx: Ctx):
    """§1.7.1: SDEdit of a typeset (web) digit and hand-drawn digits."""
    imgs = test_images(ctx)
    web, drawn = imgs.get("web", []), imgs.get("drawn", [])
    if not web and not drawn:
        ctx.text("No web or hand-drawn pictures found (fundiff.data.images writes them into data/images/; "
                 "pass --image PATH for your own).")
        return
    chosen = web[:1] + drawn[:1 if ctx.quick else 3]
    sdedit_rows(ctx, "web_drawn", chosen, ctx.model.estimator(ctx.plan["generic"]),
                f"a typeset (web) digit and hand-drawn digits, prompt {ctx.plan['generic_label']}")


def sec_a172(ctx: Ctx):
    """§1.7.2: inpainting under the masks: after every step x_t ← m·x_t + (1−m)·forward(x_orig, t)."""
    model, plan = ctx.model, ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    masks = test_images(ctx)["masks"][: len(imgs)]
    imgs = imgs[: len(masks)]
    x0 = rows_of(imgs)
    mask = torch.cat([m for _, m in masks])
    ts = timesteps_of(ctx)
    out = ctx.f("guidance.inpaint")(x0, mask, model.estimator(plan["generic"]), ts, model.alphas_cumprod, ctx.gen())
    lo, hi = model.value_range
    shown_mask = mask.expand(-1, model.image_shape[0], -1, -1) * (hi - lo) + lo
    hole = x0 * (1 - mask) + lo * mask
    ctx.table("inpaint", ["original", "mask (white = new)", "kept part", "inpainted"],
              [(f"{lab}, {mname}", [x0[j], shown_mask[j], hole[j], out[j]])
               for j, ((lab, _), (mname, _)) in enumerate(zip(imgs, masks))],
              f"Inpainting (your guidance.inpaint): after every step x_t ← m·x_t + (1−m)·forward(x_orig, t) "
              f"(the original re-noised to the current t); prompt {plan['generic_label']}, {len(ts)} strided "
              f"timesteps, seed {ctx.seed}.")


def sec_a173(ctx: Ctx):
    """§1.7.3: SDEdit towards a prompt, with classifier-free guidance γ = 7."""
    plan = ctx.plan
    p, gamma = plan["img2img_prompt"], 7.0
    imgs = test_images(ctx)
    chosen = imgs["test"][:1] + ([] if ctx.quick else imgs.get("drawn", [])[:1])
    sdedit_rows(ctx, "text_img2img", chosen, est_of(ctx, p, gamma),
                f"prompt {fmt_prompt(p)} with classifier-free guidance γ = {gamma:g}")


#: anagram view name (the keys of guidance.VIEWS) → (the student's view function, its inverse (None: itself),
#: how the page shows it (the reference view, so a wrong view of the student's shows as such), its label)
VIEWS = {"flip": ("guidance.flip_upside_down", None, lambda x: torch.flip(x, dims=[-2]), "flipped"),
         "negate": ("guidance.negate", None, lambda x: -x, "negated"),
         "rot180": ("guidance.rotate180", None, lambda x: torch.flip(x, dims=[-2, -1]), "rotated 180°"),
         "rot90": ("guidance.rotate90", "guidance.rotate270", lambda x: torch.rot90(x, 1, dims=(-2, -1)),
                      "rotated 90°")}


def sec_a18(ctx: Ctx):
    """§1.8: visual anagrams ε = (ε₁(x_t) + flip(ε₂(flip(x_t))))/2, shown upright and upside down."""
    model, plan = ctx.model, ctx.plan
    gamma, n = 7.0, 2
    ts = timesteps_of(ctx)
    rows = []
    for p1, p2, *rest in plan["anagrams"][:2] if ctx.quick else plan["anagrams"]:  # quick: a flip and another view
        name = rest[0] if rest else "flip"
        g1, g2 = (rest[1], rest[2]) if len(rest) > 1 else (gamma, gamma)  # a row tuned to the model: its own γs
        b1, b2 = (rest[3], rest[4]) if len(rest) > 3 else (0.0, 0.0)  # and β: each prompt away from the other
        view_fn, inverse_fn, show, label = VIEWS[name]
        f, inv = ctx.f(view_fn), (ctx.f(inverse_fn) if inverse_fn else None)
        est = ctx.f("guidance.anagram_estimator")(est_of(ctx, p1, g1, p2, b1), est_of(ctx, p2, g2, p1, b2), f, inv)
        x = ctx.f("denoise.sample")(est, (n, *model.image_shape), ts, model.alphas_cumprod, ctx.gen())
        seen = show(x)
        away = "".join(f", {fmt_prompt(a)} away from {fmt_prompt(b)} by β {v:g}"
                       for a, b, v in ((p1, p2, b1), (p2, p1, b2)) if v)
        tuned = f" (tuned: γ {g1:g} / {g2:g}{away})" if len(rest) > 1 else ""
        rows.append((f"{fmt_prompt(p1)} / {label} {fmt_prompt(p2)}{tuned}",
                     [c for j in range(n) for c in (x[j], seen[j])]))
    ctx.table("anagrams", [c for j in range(n) for c in (f"sample {j + 1}: as it is", "through the view")], rows,
              f"Visual anagrams (your guidance.anagram_estimator with your view functions): "
              f"ε = (ε₁(x_t) + view⁻¹(ε₂(view(x_t))))/2 (view: flip upside down unless the row names another), "
              f"each ε with CFG γ = {gamma:g} (a tuned row: each prompt's own γ, found for this model, and a "
              f"negative prompt where it says β: ε = ε_u + γ(ε_c − ε_u) − β(ε_n − ε_u), fundiff.negative_prompt); "
              f"as it is it should read as the first prompt, through the view as the second. Seed {ctx.seed}.")


def sec_a19(ctx: Ctx):
    """§1.9: hybrid images ε = lowpass(ε₁) + highpass(ε₂), shown large (near) and small (far).  A row of
    the plan is (far, near) with the course's settings (one γ, the course's Gaussian scaled to the image
    size) or (far, near, γ_far, γ_near, σ) for a pair tuned to the model (kernel :func:`~fundiff.pictures.gaussian_kernel_size`)."""
    model, plan = ctx.model, ctx.plan
    gamma, n = 7.0, 2
    ts = timesteps_of(ctx)
    size = model.image_shape[-1]
    if ctx.has("guidance.hybrid_kernel"):
        k, s = ctx.f("guidance.hybrid_kernel")(size)
    else:
        s_ = size / 64
        k, s = 2 * round(16 * s_) + 1, 2.0 * s_
    rows = []
    for lo_p, hi_p, *tuned in plan["hybrids"][:1] if ctx.quick else plan["hybrids"]:
        g_lo, g_hi, k_row, s_row = (gamma, gamma, k, s) if not tuned else (
            tuned[0], tuned[1], gaussian_kernel_size(tuned[2]), tuned[2])
        est = ctx.f("guidance.hybrid_estimator")(est_of(ctx, lo_p, g_lo), est_of(ctx, hi_p, g_hi), k_row, s_row)
        x = ctx.f("denoise.sample")(est, (n, *model.image_shape), ts, model.alphas_cumprod, ctx.gen())
        how = ("course's settings" if not tuned else f"tuned: γ {g_lo:g} / {g_hi:g}, kernel {k_row}, σ = {s_row:g}")
        rows.append((lo_p, hi_p, how, x))
    big = ctx.scale_for(model.image_shape[1], 224)
    every = torch.cat([x for *_, x in rows]).float()
    half, quarter = (F.interpolate(every, scale_factor=f, mode="area") for f in (0.5, 0.25))
    ctx.table("hybrids_large", [f"sample {j + 1}" for j in range(n)],
              [(f"far: {fmt_prompt(a)}, near: {fmt_prompt(b)} ({how})", list(x)) for a, b, how, x in rows],
              f"Hybrid images, large (×{big}): close up the high frequencies should show the 'near' prompt. "
              f"Your guidance.hybrid_estimator: ε = lowpass(ε₁) + highpass(ε₂); the course's settings: Gaussian "
              f"kernel {k}, σ = {s:g} (its 33 / 2 at 64 px, scaled to {size} px) and CFG γ = {gamma:g} for both "
              f"prompts; a tuned row gives the far prompt's γ, the near prompt's γ and σ found for this model. "
              f"Seed {ctx.seed}.",
              scale=big)
    ctx.table("hybrids_small", [f"sample {j + 1}" for j in range(n)] * 3,
              [(f"{fmt_prompt(a)} / {fmt_prompt(b)}",
                list(x) + list(half[r * n:(r + 1) * n]) + list(quarter[r * n:(r + 1) * n]))
               for r, (a, b, _, x) in enumerate(rows)],
              f"The same hybrids small (native {size} px, then half and quarter size): from afar the low "
              "frequencies should show the 'far' prompt.", scale=1)