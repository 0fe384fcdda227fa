"""The models Part B shows: the shipped checkpoints, or the ones ``--train`` trains here.

Without ``--train`` every section loads the fp16 checkpoints of ``data/partb/`` (epochs
:data:`PARTB_EPOCHS`) into the student's ``unet.py`` and plots the shipped loss logs; with it,
:func:`ensure_trained` first trains the model with ``fundiff.train`` (the course's settings, once per
run, resumable) into ``OUT/train/<kind>/``.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import torch

from ...data import DATA_DIR
from ...fast import fast_model
from ..context import Ctx


PARTB_EPOCHS = {"denoiser": (1, 5), "time": (5, 20), "class": (5, 20)}


def epochs_of(ctx: Ctx, kind: str) -> tuple:
    """The epochs whose checkpoints a section shows: the shipped ones, or --train's sample epochs."""
    if ctx.args.train:
        from ...train import COURSE

        return tuple(COURSE[kind].sample_epochs)
    return PARTB_EPOCHS[kind]


def partb_run_dir(ctx: Ctx, kind: str) -> Path:
    """Where --train writes the ``kind`` model: OUT/train/<kind>/."""
    return ctx.out / "train" / kind


def ensure_trained(ctx: Ctx, kind: str) -> None:
    """--train: train ``kind`` with the course's settings (once per demo run, resumable)."""
    if not ctx.args.train or ctx._cache.get(f"trained-{kind}"):
        return
    from ...train import COURSE, train

    run = partb_run_dir(ctx, kind)
    cfg = COURSE[kind]
    print(f"    training the {kind} model from scratch ({cfg.epochs} epochs) into {run} …", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    train(cfg, run, device=ctx.device, fast=ctx.fast, resume=True, impl=str(ctx.impl.path), progress=True)
    ctx._cache[f"trained-{kind}"] = True
    print(f"    trained {kind} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def partb_model(ctx: Ctx, kind: str, epoch: int) -> torch.nn.Module:
    """The Part B model ``kind`` after ``epoch`` epochs: shipped, or trained by --train; built with the
    implementation's unet.py; wrapped for reduced-precision sampling on the fast path."""
    from ...train import load_shipped, load_weights

    if ctx.args.train:
        ensure_trained(ctx, kind)
        model = load_weights(partb_run_dir(ctx, kind) / f"epoch_{epoch:03d}.safetensors", str(ctx.impl.path), ctx.device)
    else:
        model = load_shipped(kind, epoch, impl=str(ctx.impl.path), device=ctx.device)
    return model


def sampling_model(ctx: Ctx, model):
    """``model`` on the fast path for sampling (:func:`fundiff.fast.fast_model`) when the run is fast."""
    return fast_model(model, ctx.device) if ctx.fast else model


def partb_losses(ctx: Ctx, kind: str):
    """(losses, steps per epoch, source) of the run that made the checkpoints, or None."""
    if ctx.args.train:
        ensure_trained(ctx, kind)
        candidates = [partb_run_dir(ctx, kind) / "losses.csv"]
    else:
        candidates = [DATA_DIR / "partb" / f"{kind}_losses.csv"]
    for path in candidates:
        if path.is_file():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            losses = [float(r["loss"]) for r in rows]
            epochs = [int(r["epoch"]) for r in rows]
            per_epoch = epochs.count(1) or None
            return losses, per_epoch, path
    return None


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(DATA_DIR.resolve().parent))
    except ValueError:
        return str(path)


def loss_curve(ctx: Ctx, kind: str, title: str) -> None:
    from ...pictures import plot_losses

    got = partb_losses(ctx, kind)
    if got is None:
        raise FileNotFoundError(f"the loss log of the {kind} model's training is not shipped (expected "
                                f"data/partb/{kind}_losses.csv); --train trains the model and shows its curve")
    losses, per_epoch, src = got
    path, rel = ctx._file(f"{kind}_loss", "png")
    plot_losses(losses, path, title, per_epoch)
    epochs = len(losses) // per_epoch if per_epoch else "?"
    epochs = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    ctx.items.append({"kind": "image", "src": rel, "caption":
                      f"Training loss of the {kind} model, one value per batch ({len(losses)} steps, {epochs}, "
                      f"dotted lines between epochs; log scale), from {_shown_path(src)}."})
