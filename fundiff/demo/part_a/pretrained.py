"""Part A §0 — sampling with the pretrained model: its own sampler, no course code involved
(except a check of the student's ``denoise.inference_timesteps``)."""
from __future__ import annotations

import copy

import torch

from ..context import Ctx
from .setup import fmt_prompt


def reference_sample(model, prompt: str, n: int, steps: int, guidance: float, gen: torch.Generator):
    """§0: the pretrained model's own sampler (diffusers' DDPMScheduler on its ᾱ, learned variance
    when the model predicts v), with classifier-free guidance: no course code involved."""
    from diffusers import DDPMScheduler

    abar = model.alphas_cumprod.double()
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    betas = (1 - abar / prev).clamp(max=0.999).float()
    est_c, est_u = model.estimator(prompt), model.estimator(model.null_prompt)
    x = torch.randn((n, *model.image_shape), generator=gen).to(model.device)
    sched = None
    for t in _scheduler_timesteps(len(abar), steps):
        eps_c, v = est_c(x, t)
        eps_u, _ = est_u(x, t)
        eps = eps_u + guidance * (eps_c - eps_u)
        if sched is None:
            own = getattr(model, "scheduler", None)
            sched = copy.deepcopy(own) if own is not None else DDPMScheduler(
                num_train_timesteps=len(abar), trained_betas=betas.numpy(),
                variance_type="learned_range" if v is not None else "fixed_small", clip_sample=True)
            sched.set_timesteps(steps)
        out = eps if v is None else torch.cat([eps, v], 1)
        x = sched.step(out, t, x, generator=gen).prev_sample
    return x


def _scheduler_timesteps(T: int, steps: int) -> list:
    ratio = T // steps
    return [i * ratio for i in range(steps - 1, -1, -1)]


def sec_a0(ctx: Ctx):
    """§0: samples of each prompt with the model's own DDPM sampler at each num_inference_steps, and
    a check of the student's denoise.inference_timesteps against the timesteps it visited."""
    plan, model = ctx.plan, ctx.model
    n = 2 if ctx.quick else plan["a0_per_prompt"] if ctx.full else plan.get("a0_per_prompt_default", plan["a0_per_prompt"])
    steps_list = plan["a0_steps"][:1] if ctx.quick else plan["a0_steps"]
    rows, cols = [], []
    for steps in steps_list:
        cols.append(f"{steps} steps")
    for p in plan["a0_prompts"]:
        cells = []
        for steps in steps_list:
            x = reference_sample(model, p, n, steps, plan["a0_guidance"], ctx.gen())
            cells.append(x)
        rows.append((f"prompt {fmt_prompt(p)}", cells))
    ctx.table("samples", cols, [(lab, [c.cpu() for c in cells]) for lab, cells in rows],
              f"{model.name}: {n} samples per prompt with the model's own DDPM sampler (diffusers' "
              f"DDPMScheduler, 'leading' spacing), classifier-free guidance γ = {plan['a0_guidance']:g}, "
              f"seed {ctx.seed}, num_inference_steps = {', '.join(map(str, steps_list))}.",
              scale=max(1, 112 * 1 // model.image_shape[1]))

    def which():
        T = len(model.alphas_cumprod)
        for steps in steps_list:
            ts = ctx.f("denoise.inference_timesteps")(steps, T)
            ok = list(ts) == _scheduler_timesteps(T, steps)
            shown = ", ".join(map(str, list(ts)[:4])) + (", …, " + str(list(ts)[-1]) if len(ts) > 4 else "")
            ctx.text(f"Your inference_timesteps({steps}, {T}) = [{shown}] ({len(ts)} timesteps): "
                     + ("the ones the sampler visited." if ok else "NOT the ones diffusers' sampler visits."))

    if ctx.has("denoise.inference_timesteps"):
        ctx.part(which)
