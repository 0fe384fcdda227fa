"""Part B §2 — DDPMs: training the time-conditioned UNet (§2.1–2.2), sampling it (§2.3), and the
class-conditioned UNet sampled with classifier-free guidance (§2.4–2.5):

    x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t,  x_{t−1} = posterior mean(x̂₀, x_t) + √β_t·z   (train.ddpm_sample)
    ε̂ = ε_u + γ(ε_c − ε_u) for the guided samples                                  (train.cfg_noise)
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..context import Ctx
from .checkpoints import epochs_of, loss_curve, partb_model, sampling_model


def ddpm_grid(ctx: Ctx, kind: str, epoch: int, n: int, c=None, guidance: float = 5.0):
    """Sample with the implementation's ddpm_sample; returns (x, GIF frames, seconds)."""
    from ...train import COURSE

    model = sampling_model(ctx, partb_model(ctx, kind, epoch))
    cfg = COURSE[kind]
    schedule = ctx.f("train.ddpm_schedule")(cfg.beta1, cfg.beta2, cfg.num_ts)
    frames = []

    def keep(t, x):
        if t % 10 == 0:
            frames.append(x.detach().float().clamp(0, 1).cpu())

    t0 = time.perf_counter()
    x = ctx.f("train.ddpm_sample")(model, (n, 1, 28, 28), schedule, ctx.gen(), c=c, guidance_scale=guidance,
                                   callback=keep)
    return x.float(), frames, time.perf_counter() - t0


def sec_b22(ctx: Ctx):
    """§2.2: the training loss of the time-conditioned UNet."""
    loss_curve(ctx, "time", "§2.2 time-conditioned UNet (D = 64)")


#: Samples shown per epoch (default run, --full = the course's counts).  A T = 300 sample of the class
#: model with CFG costs 600 UNet passes, ~1.8 s of a 2-core CPU, so the course's 4 per digit after
#: each of two epochs (80 samples, ~140 s) alone would overrun the demo's 180 s.
TIME_SAMPLES, TIME_SAMPLES_FULL = 10, 20
CLASS_PER_DIGIT, CLASS_PER_DIGIT_FULL = (1, 2), (4, 4)  # (earlier epochs, the last epoch)


def show_ddpm_samples(ctx: Ctx, kind: str, epoch: int, n: int, what: str, c=None, guidance: float = 5.0):
    """The grid and the GIF of ``n`` DDPM samples of the shipped ``kind`` model after ``epoch``."""
    x, frames, secs = ddpm_grid(ctx, kind, epoch, n, c=c, guidance=guidance)
    ctx.image(f"samples_e{epoch}", x.clamp(0, 1),
              f"After epoch {epoch}: {what} (T = 300, seed {ctx.seed}; {secs:.0f} s"
              f"{', bfloat16 autocast' if ctx.fast else ''}).", nrow=10, value_range=(0, 1), scale=3)
    ctx.gif(f"samples_e{epoch}", frames, f"The denoising after epoch {epoch}, every 10th step (GIF).",
            nrow=10, value_range=(0, 1), scale=3)


def sec_b23(ctx: Ctx):
    """§2.3: DDPM samples of the time-conditioned UNet after each epoch shown (grid and GIF)."""
    n = 10 if ctx.quick else TIME_SAMPLES_FULL if ctx.full else TIME_SAMPLES
    for epoch in epochs_of(ctx, "time"):
        ctx.part(show_ddpm_samples, ctx, "time", epoch, n,
                 f"{n} DDPM samples of the time-conditioned UNet (your train.ddpm_sample, x_T ~ N(0, I) down to t = 0)")


def sec_b25(ctx: Ctx):
    """§2.5: samples of every digit from the class-conditioned UNet with classifier-free guidance γ = 5
    (grid and GIF per epoch), after its loss curve."""
    earlier, last = (1, 1) if ctx.quick else CLASS_PER_DIGIT_FULL if ctx.full else CLASS_PER_DIGIT
    gamma = 5.0
    ctx.part(loss_curve, ctx, "class", "§2.4 class-conditioned UNet (D = 64)")
    epochs = epochs_of(ctx, "class")
    for epoch in epochs:
        per = last if epoch == epochs[-1] else earlier
        c = F.one_hot(torch.arange(10).repeat(per), 10).float()
        full = CLASS_PER_DIGIT_FULL[-1]
        more = "" if per == full or ctx.quick else f" (--full shows the course's {full} per digit)"
        ctx.part(show_ddpm_samples, ctx, "class", epoch, len(c),
                 f"{per} sample{'s' if per > 1 else ''} of every digit (columns 0–9) with classifier-free guidance "
                 f"γ = {gamma:g}{more} (your train.ddpm_sample / cfg_noise)", c=c, guidance=gamma)
