"""Training the bundled MNIST model of Part A: ``python -m fundiff.bundled train``.

What :func:`train` fits is the class-conditional UNet2DModel of :mod:`fundiff.models.mnist`
(its ``UNET_CONFIG`` and IF's schedule), on the 4,500 training digits in [-1, 1], with the loss

    ‖ε − ε_θ(√ᾱ_t·x₀ + √(1−ᾱ_t)·ε, t, y)‖²,   t ~ U{0..T−1}, y → the null class with p = 10 %,

AdamW with warm-up and cosine decay, gradient clipping and an EMA of the weights (the EMA is what
is shipped in ``data/bundled/``, with a ``training.json`` record).  It stops after a number of
steps or minutes, and resumes from an atomic training state.  (The Part B models are trained by
``fundiff/train.py``.)

    python -m fundiff.bundled train --out data/bundled [--minutes 30] [--resume]
"""
from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import load_state, remove_torn_files, save_state
from .data import load_digits
from .models.mnist import (BUNDLED_DIR, NULL_CLASS, SCHEDULER_CONFIG, UNET_CONFIG, build_scheduler, build_unet,
                           training_alphas_cumprod)


def drop_labels(y: torch.Tensor, p_uncond: float, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by the null class with probability ``p_uncond`` (classifier-free training)."""
    drop = torch.rand(y.shape, generator=generator) < p_uncond
    return torch.where(drop, torch.full_like(y, NULL_CLASS), y)


def diffusion_loss(unet, x0: torch.Tensor, y: torch.Tensor, abar: torch.Tensor, generator: torch.Generator,
                   autocast: bool = True) -> torch.Tensor:
    """‖ε − ε_θ(√ᾱ_t·x₀ + √(1−ᾱ_t)·ε, t, y)‖² with t ~ U{0..T−1}; x0 (B,1,28,28) in [-1, 1]."""
    t = torch.randint(0, len(abar), (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    a = abar[t].view(-1, 1, 1, 1)
    x_t = (a.sqrt() * x0 + (1 - a).sqrt() * eps).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        pred = unet(x_t, t, class_labels=y).sample
    return F.mse_loss(pred.float(), eps)


def lr_at(progress: float, peak: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of training, then cosine decay to 5 % of peak."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.01)
    p = min((progress - warmup) / max(1 - warmup, 1e-8), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def ema_update(ema, model, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model, parameter by parameter."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - decay)


def save_pretrained_atomic(unet, folder: Path) -> None:
    """``unet.save_pretrained`` into a temporary folder, then rename it over ``folder``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    unet.save_pretrained(tmp, safe_serialization=True)
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700 folders; the shipped files must be readable by all
    for f in tmp.iterdir():
        os.chmod(f, 0o644)
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(obj, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def train(out: Path = BUNDLED_DIR, work: Path = Path("runs/bundled"), steps: int = 4000, minutes: float | None = None,
          batch_size: int = 64, lr: float = 2e-3, warmup: float = 0.03, ema_decay: float = 0.999,
          p_uncond: float = 0.1, seed: int = 0, autocast: bool = True, threads: int | None = None,
          resume: bool = False, save_every_s: float = 120.0, log_every: int = 25) -> dict:
    """Train the bundled model on ``load_digits("train")`` and write it to ``out`` in diffusers format.

    Training stops after ``steps`` steps or ``minutes`` of wall clock, whichever comes first; the
    LR schedule follows progress = max(step/steps, elapsed/minutes).  The EMA weights are shipped.
    A training state (model, EMA, optimizer, RNG, step, losses) is saved atomically to
    ``work/state.safetensors`` every ``save_every_s`` seconds; ``resume=True`` continues from it.
    """
    if threads:
        torch.set_num_threads(threads)
    out, work = Path(out), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.safetensors"
    torch.manual_seed(seed)  # parameter initialisation
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = load_digits("train")
    x_all = x_all * 2 - 1  # [0, 1] → [-1, 1]
    abar = training_alphas_cumprod()
    unet = build_unet().to(memory_format=torch.channels_last)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    step, elapsed, losses = 0, 0.0, []
    for torn in remove_torn_files(work):
        print(f"removed {torn}, a file torn by an interrupted write", flush=True)
    if resume and state_path.is_file():
        st = load_state(state_path)
        unet.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["rng"])
        step, elapsed, losses = st["step"], st["elapsed"], list(st["losses"])
        print(f"resumed from {state_path} at step {step} ({elapsed / 60:.1f} min)", flush=True)
    budget = minutes * 60 if minutes else None

    def progress() -> float:
        return max(step / steps, elapsed / budget if budget else 0.0)

    def save():
        save_state({"model": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "rng": gen.get_state(), "step": step, "elapsed": elapsed, "losses": losses}, state_path)

    n = len(x_all)
    perm, pos = torch.randperm(n, generator=gen), 0
    unet.train()
    t_start, last_save, window = time.time() - elapsed, time.time(), []
    while progress() < 1.0:
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        y = drop_labels(y_all[idx], p_uncond, gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(progress(), lr, warmup)
        loss = diffusion_loss(unet, x_all[idx], y, abar, gen, autocast)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        ema_update(ema, unet, min(ema_decay, (1 + step) / (10 + step)))
        window.append(loss.item())
        elapsed = time.time() - t_start
        if step % log_every == 0:
            losses.append(sum(window) / len(window))
            window = []
            print(f"step {step} loss {losses[-1]:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{elapsed / 60:.1f} min {step * batch_size / max(elapsed, 1e-9):.1f} img/s", flush=True)
        if time.time() - last_save > save_every_s:
            save()
            save_pretrained_atomic(ema, work / "unet")
            last_save = time.time()
    save()
    save_pretrained_atomic(ema, out / "unet")
    build_scheduler().save_pretrained(out / "scheduler")
    record = {
        "command": (f"python -m fundiff.bundled train --out {out} --work {work} --steps {steps}"
                    + (f" --minutes {minutes:g}" if minutes else "") + f" --batch-size {batch_size} --lr {lr:g}"
                    + f" --seed {seed}" + (f" --threads {threads}" if threads else "")
                    + ("" if autocast else " --no-autocast")),
        "seed": seed, "steps": step, "batch_size": batch_size, "epochs": step * batch_size / n,
        "wall_clock_s": round(elapsed, 1), "threads": torch.get_num_threads(),
        "optimizer": {"name": "AdamW", "lr": lr, "warmup_fraction": warmup, "schedule": "cosine to 5%",
                      "grad_clip": 1.0, "weight_decay": 0.0},
        "ema_decay": ema_decay, "p_uncond": p_uncond, "autocast": "bfloat16" if autocast else None,
        "data": {"source": "fundiff.data.load_digits('train')", "n": n, "value_range": [-1, 1],
                 "augmentation": None},
        "unet_config": UNET_CONFIG, "scheduler_config": SCHEDULER_CONFIG,
        "loss": {"final_mean_last_100_steps": None if not losses else round(sum(losses[-4:]) / len(losses[-4:]), 5),
                 "every_25_steps": [round(v, 5) for v in losses]},
        "requested": {"steps": steps, "minutes": minutes},
    }
    write_json_atomic(record, out / "training.json")
    print(f"wrote {out} after {step} steps, {elapsed / 60:.1f} min", flush=True)
    return record
