"""Part B §1 — a UNet denoiser: the networks (§1.1), the one-step denoiser D(z) ≈ x trained at
σ = 0.5 on z = x + σ·ε (§1.2), and the same denoiser at other noise levels (§1.2.2)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...data import load_digits
from ..context import Ctx
from .checkpoints import epochs_of, loss_curve, partb_model


def heldout_digits(n_per_class: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` held-out digits of each class: x (10·n, 1, 28, 28) in [0, 1], y (10·n,)."""
    x, y = load_digits("heldout")
    idx = torch.cat([(y == d).nonzero()[:n_per_class, 0] for d in range(10)])
    return x[idx], y[idx]


#: The noise levels §1.2 and §1.2.2 show (the denoiser is trained at 0.5).
SIGMAS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)


def sec_b11(ctx: Ctx):
    """§1.1: the three networks of unet.py built and run on a random batch (parameters, shapes)."""
    unet = ctx.impl.unet
    lines = []
    x = torch.randn(4, 1, 28, 28, generator=ctx.gen())
    t = torch.rand(4, generator=ctx.gen())
    c = F.one_hot(torch.arange(4), 10).float()
    for name, build, args in [("UNet(1, 128)", lambda: unet.UNet(1, 128), (x,)),
                              ("TimeConditionalUNet(1, 64)", lambda: unet.TimeConditionalUNet(1, 64), (x, t)),
                              ("ClassConditionalUNet(1, 10, 64)", lambda: unet.ClassConditionalUNet(1, 10, 64), (x, t, c))]:
        def one(name=name, build=build, args=args):
            m = build().eval()
            with torch.no_grad():
                y = m(*args)
            n = sum(p.numel() for p in m.parameters())
            lines.append(f"{name:34s} {n:>10,d} parameters   input {tuple(x.shape)} → output {tuple(y.shape)}")
        ctx.part(one)
    if lines:
        ctx.pre("\n".join(lines))
        ctx.text("Your unet.py's three networks, built and run on a random batch (seed "
                 f"{ctx.seed}); the pictures below come from them with the shipped weights.")


def sec_b12(ctx: Ctx):
    """§1.2: z = x + σ·ε at every σ, the denoiser's loss curve, and D(z) at σ = 0.5 after each epoch shown."""
    x, _ = heldout_digits()
    x = x[:5] if ctx.quick else x

    def noising():
        add_noise = ctx.f("train.add_noise")
        noise = torch.randn(x.shape, generator=ctx.gen())
        cols = [add_noise(x, s, noise) for s in SIGMAS]
        ctx.table("noising", [], [(f"σ = {s:g}", list(c)) for s, c in zip(SIGMAS, cols)],
                  f"z = x + σ·ε (your train.add_noise) on held-out digits, one ε per digit (seed {ctx.seed}).",
                  value_range=(0, 1), scale=3)

    ctx.part(noising)
    ctx.part(loss_curve, ctx, "denoiser", "§1.2 one-step denoiser (σ = 0.5, D = 128)")

    def after(epoch):
        z = ctx.f("train.add_noise")(x, 0.5, torch.randn(x.shape, generator=ctx.gen(1)))
        model = partb_model(ctx, "denoiser", epoch)
        with torch.no_grad():
            d = model(z.to(ctx.device)).float().cpu()
        ctx.image(f"denoised_e{epoch}", torch.cat([x, z, d]),
                  f"After epoch {epoch}: held-out digits (top), noised at σ = 0.5 (middle), denoised by the "
                  f"UNet (bottom).", nrow=len(x), value_range=(0, 1), scale=3)

    for epoch in epochs_of(ctx, "denoiser"):
        ctx.part(after, epoch)


def sec_b122(ctx: Ctx):
    """§1.2.2: the denoiser trained at σ = 0.5 on digits noised at other σ (out of distribution)."""
    add_noise = ctx.f("train.add_noise")
    x, _ = heldout_digits()
    picks = x[[3, 8]] if not ctx.quick else x[[3]]
    gen = ctx.gen()
    epoch = epochs_of(ctx, "denoiser")[-1]
    model = partb_model(ctx, "denoiser", epoch)
    rows = []
    for j in range(len(picks)):
        noise = torch.randn(picks[j:j + 1].shape, generator=gen)
        zs = torch.cat([add_noise(picks[j:j + 1], s, noise) for s in SIGMAS])
        with torch.no_grad():
            ds = model(zs.to(ctx.device)).float().cpu()
        rows += [(f"digit {j + 1} noisy", list(zs)), ("denoised", list(ds))]
    ctx.table("ood", [f"σ = {s:g}" for s in SIGMAS], rows,
              f"Out of distribution: the denoiser trained at σ = 0.5 (epoch {epoch}) on "
              f"held-out digits noised at other σ (seed {ctx.seed}).", value_range=(0, 1), scale=3)
