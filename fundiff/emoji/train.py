"""Train the emoji model: ``python -m fundiff.emoji.train [--minutes 95] [--resume]``.

The network is IF stage 1 in miniature: a diffusers ``UNet2DConditionModel`` (32×32 RGB in, 6
channels out: ε and IF's ``learned_range`` variance v), conditioned on a prompt embedding (B, 1, 384)
through cross-attention and, as IF does, through ``addition_embed_type="text"`` (the pooled text
added to the time embedding) with ``scale_shift`` ResNets.  The schedule is IF's: DDPM,
``squaredcos_cap_v2``, 1000 steps, so the course's timesteps 990 … 0 apply unchanged.

The loss is Improved DDPM's hybrid loss (Nichol & Dhariwal 2021), with t ~ U{0..T−1}:

    x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,                    (ε̂, v) = UNet(x_t, t, e)
    L_simple = ‖ε − ε̂‖² (mean over pixels)
    L_vlb    = KL( q(x_{t−1} | x_t, x₀) ‖ N(μ_θ, σ_θ²) ) / log 2   (bits per pixel, t ≥ 1; 0 at t = 0)
    μ_θ = posterior mean with x̂₀ = (x_t − √(1−ᾱ_t) sg(ε̂)) / √ᾱ_t,   log σ_θ² = f log β_t + (1−f) log β̃_t,
    f = (v + 1) / 2,                               L = L_simple + L_vlb

(sg: stop-gradient, so L_vlb trains only v; with T = 1000 this is their λ = 0.001 on the summed VLB).

``--weighting p2`` weighs L_simple per sample by P2 (Choi et al. 2022) with k = γ = 1,
λ_t = 1 / (1 + SNR_t) = 1 − ᾱ_t, divided by its mean over t: it moves the training's attention from
the low-noise steps, which a small model learns early (x̂₀ error 0.005 at t = 200 after 6 k steps),
to the high-noise steps where the prompt decides what is drawn (there the conditional and the
unconditional x̂₀ differed by under 10 % after 6 k uniform steps).  ``--focus F`` draws a share F of
each batch from the pictures of the concepts the demo and the quality metric ask for
(:func:`focus_pictures`), the rest uniformly from all.  ``--extra-prompts 'a;b' --extra-share S`` draws
a share S from the pictures of other concepts on top (concepts a trick needs that the model does not
draw yet), and ``--init data/emoji/unet`` fine-tunes the shipped weights instead of a fresh UNet.
``--size 64`` trains at IF stage 1's size on the same pictures at 64 px (``emoji_64_subset.npz``)
with one more level (:data:`UNET_CONFIG_64`); a GPU run (``--device cuda``), not a CPU one.

Captions are drawn per picture from its concept's captions (:mod:`fundiff.emoji.concepts`); with
probability ``p_uncond`` a caption is replaced by a null caption ("" or "a high quality photo"), so
classifier-free guidance works.  The EMA weights are shipped.

Runs on CPU or CUDA; under ``torchrun --nproc_per_node N`` (or ``accelerate launch``) it trains with
DistributedDataParallel (gloo on CPU, nccl on CUDA): every rank draws the same global batch from the
same generator and takes its rows r, r+N, …, so N processes compute what one process computes.
A training state (model, EMA, optimizer, generator, step, clock, losses) is saved atomically every
``--save-every`` seconds to ``--work``/state.safetensors; ``--resume`` continues from it.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import remove_torn_files
from ..train_bundled import lr_at, save_pretrained_atomic, write_json_atomic
from .concepts import EMOJI_DIR, NULL_CAPTIONS, SUBSET_FILES, captions_of, load_subset
from .text import EMBED_DIM, load_table

NUM_TRAIN_TIMESTEPS = 1000

#: The UNet2DConditionModel the shipped weights were trained with (sized from a step benchmark:
#: (32, 64, 128) ran at 52 img/s in fp32 on 2 cores, (48, 96, 192) at 27, (64, 128, 256) at 17;
#: bf16 autocast was slower for all three).
UNET_CONFIG = dict(
    sample_size=32,
    in_channels=3,
    out_channels=6,
    block_out_channels=(32, 64, 128),
    down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    layers_per_block=1,
    norm_num_groups=16,
    cross_attention_dim=EMBED_DIM,
    attention_head_dim=32,
    addition_embed_type="text",
    resnet_time_scale_shift="scale_shift",
)
#: The changes for ``--size 64`` (IF stage 1's 64×64): one more level (64, 32, 16, 8 px), attention
#: at 8 px only; 6.4 M parameters (25.8 MB in float32), 9.3 GFLOP per picture and training step
#: (torch's FLOP counter; the 32-px network: 4.8 M, 2.7 GFLOP).
UNET_CONFIG_64 = dict(
    sample_size=64,
    block_out_channels=(32, 64, 128, 128),
    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
)
#: Picture sizes ``--size`` takes.
SIZES = (32, 64)


def unet_config(size: int = 32, config: dict | None = None) -> dict:
    """The changes to :data:`UNET_CONFIG` of a run at ``size`` px, then ``config``'s own (e.g. --tiny's)."""
    if size not in SIZES:
        raise ValueError(f"--size {size}: expected one of {', '.join(map(str, SIZES))}")
    return {**(UNET_CONFIG_64 if size == 64 else {}), **(config or {})}


#: IF's scheduler, read by DDPMScheduler (learned_range variance, no clipping or thresholding).
SCHEDULER_CONFIG = dict(
    num_train_timesteps=NUM_TRAIN_TIMESTEPS,
    beta_schedule="squaredcos_cap_v2",
    variance_type="learned_range",
    clip_sample=False,
    prediction_type="epsilon",
)


def build_unet(config: dict | None = None):
    """A fresh ``UNet2DConditionModel`` with :data:`UNET_CONFIG` (updated by ``config``)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**{**UNET_CONFIG, **(config or {})})


def schedule() -> tuple[torch.Tensor, torch.Tensor]:
    """(β, ᾱ) of IF's schedule, (T,) float32 each, as diffusers' DDPMScheduler computes them."""
    from diffusers import DDPMScheduler

    s = DDPMScheduler(**SCHEDULER_CONFIG)
    return s.betas.float(), s.alphas_cumprod.float()


# ----------------------------------------------------------------------------------------------
# The hybrid loss
# ----------------------------------------------------------------------------------------------
def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε.  x0, eps (B, C, H, W); t (B,) ints."""
    a = abar[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def posterior(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, betas: torch.Tensor, abar: torch.Tensor):
    """Mean and log variance of q(x_{t−1} | x_t, x₀) for t ≥ 1 (t (B,) ints; β̃ clamped at 1e-20):

        μ̃ = √ᾱ_{t−1} β_t / (1−ᾱ_t) · x₀ + √α_t (1−ᾱ_{t−1}) / (1−ᾱ_t) · x_t,   β̃ = (1−ᾱ_{t−1}) / (1−ᾱ_t) · β_t
    """
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    a_t, a_p, b_t = (v[t].view(-1, 1, 1, 1) for v in (abar, prev, betas))
    mean = (a_p.sqrt() * b_t * x0 + (1 - b_t).sqrt() * (1 - a_p) * x_t) / (1 - a_t)
    return mean, ((1 - a_p) / (1 - a_t) * b_t).clamp(min=1e-20).log()


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1)


def hybrid_loss(out: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                betas: torch.Tensor, abar: torch.Tensor, weight: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_simple, L_vlb) of the module docstring.  out (B, 6, H, W) = (ε̂, v); the rest (B, 3, H, W), t (B,);
    weight: (T,) per-timestep weights of L_simple (None: 1)."""
    eps_hat, v = out[:, :3], out[:, 3:]
    per = ((eps_hat - eps) ** 2).mean(dim=(1, 2, 3))
    simple = (per * weight[t]).mean() if weight is not None else per.mean()
    a_t = abar[t].view(-1, 1, 1, 1)
    x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat.detach()) / a_t.sqrt()
    tt = t.clamp(min=1)
    mu_q, logvar_q = posterior(x0, x_t, tt, betas, abar)
    mu_p, _ = posterior(x0_hat, x_t, tt, betas, abar)
    frac = (v + 1) / 2
    logvar_p = frac * betas[tt].log().view(-1, 1, 1, 1) + (1 - frac) * logvar_q
    kl = normal_kl(mu_q, logvar_q, mu_p, logvar_p).mean(dim=(1, 2, 3)) / math.log(2)
    return simple, (kl * (t >= 1)).mean()


def p2_weight(abar: torch.Tensor) -> torch.Tensor:
    """(T,) P2 weights with k = γ = 1: λ_t = (1 − ᾱ_t) / mean_s (1 − ᾱ_s), so they average 1 over t."""
    w = 1 - abar
    return w / w.mean()


# ----------------------------------------------------------------------------------------------
# Data: pictures, captions, embeddings
# ----------------------------------------------------------------------------------------------
def training_set(d: dict) -> tuple[torch.Tensor, list[list[int]], torch.Tensor, list[int]]:
    """(x₀ (N, 3, S, S) in [−1, 1], caption ids per picture, embedding table (K, 384), null ids) of a
    loaded subset ``d`` (:func:`~fundiff.emoji.concepts.load_subset`; S its picture size)."""
    table = load_table()
    texts = list(table)
    index = {s: i for i, s in enumerate(texts)}
    caps = [[index[c] for c in captions_of(str(n), str(s))] for n, s in zip(d["names"], d["short_names"])]
    x0 = torch.from_numpy(d["images"]).permute(0, 3, 1, 2).float() / 127.5 - 1
    per_image = [caps[int(l)] for l in d["labels"]]
    return x0.contiguous(), per_image, torch.stack([table[s] for s in texts]), [index[s] for s in NULL_CAPTIONS]


def draw_captions(per_image, idx, null_ids, p_uncond: float, gen: torch.Generator) -> torch.Tensor:
    """One caption id per picture of the batch ``idx``: uniform over its captions, replaced by a null
    caption with probability ``p_uncond`` (the first null caption 80 % of the time)."""
    u = torch.rand(len(idx), 3, generator=gen)
    ids = [per_image[i][int(u[k, 0] * len(per_image[i]))] for k, i in enumerate(idx.tolist())]
    null = [null_ids[0] if u[k, 2] < 0.8 else null_ids[1] for k in range(len(idx))]
    return torch.tensor([n if u[k, 1] < p_uncond else c for k, (c, n) in enumerate(zip(ids, null))])


def focus_pictures(labels, prompts=None) -> torch.Tensor:
    """Indices of the pictures whose concept one of ``prompts`` asks for; by default the prompts of the
    demo and the quality metric the shipped model's focus phases used (:mod:`fundiff.emoji.quality`'s
    DEMO_PROMPTS and FOCUS_PROMPTS).  labels: (N,) concept index per picture."""
    from .quality import DEMO_PROMPTS, FOCUS_PROMPTS, concept

    wanted = {concept(p) for p in (prompts if prompts is not None else (*DEMO_PROMPTS, *FOCUS_PROMPTS))}
    return torch.tensor([i for i, l in enumerate(labels) if int(l) in wanted])


def draw_pictures(n: int, focus: torch.Tensor | None, share: float, batch_size: int, gen: torch.Generator,
                  extra: torch.Tensor | None = None, extra_share: float = 0.0) -> torch.Tensor:
    """(batch_size,) picture indices: with probability ``share`` one of ``focus``, else uniform over n;
    then, with probability ``extra_share``, one of ``extra`` instead (``share`` = ``extra_share`` = 0
    draws exactly what ``torch.randint(0, n, …)`` draws, and ``extra_share`` = 0 what it drew before
    extra pictures existed)."""
    idx = torch.randint(0, n, (batch_size,), generator=gen)
    for pool, p in ((focus, share), (extra, extra_share)):
        if p > 0:
            pick = torch.rand(batch_size, generator=gen) < p
            alt = pool[torch.randint(0, len(pool), (batch_size,), generator=gen)]
            idx = torch.where(pick, alt, idx)
    return idx


#: warm-up fraction of the LR schedule (``fundiff.train_bundled.lr_at``: linear warm-up, cosine to 5 %)
WARMUP = 0.03


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------
def distributed() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, initialising the process group; (0, 1) alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and os.environ.get("FUNDIFF_DDP_BACKEND") != "gloo"
                                else "gloo")
    return dist.get_rank(), world


def train(out: Path = EMOJI_DIR, work: Path = Path("runs/emoji"), steps: int = 20000, minutes: float | None = None,
          batch_size: int = 32, lr: float = 1e-3, ema_decay: float = 0.999, p_uncond: float = 0.1, seed: int = 0,
          device: str = "cpu", threads: int | None = None, resume: bool = False, save_every_s: float = 300.0,
          config: dict | None = None, progress_bar: bool = True, stop_after: int | None = None,
          weighting: str = "uniform", focus: float = 0.0, extra_prompts: tuple[str, ...] = (),
          extra_share: float = 0.0, init: Path | None = None, size: int = 32) -> dict:
    """Train the emoji model for ``steps`` steps or ``minutes`` of wall clock (whichever is first;
    the LR follows progress = max(step/steps, elapsed/minutes)) and write the EMA weights to ``out``
    (``unet/``, ``scheduler/``, ``training.json``).  ``stop_after``: end this invocation after that
    many steps (the state is saved; ``resume=True`` goes on as if never stopped).  ``weighting``:
    "uniform" or "p2" (L_simple's weight over t); ``focus``: the share of each batch drawn from
    :func:`focus_pictures`; ``extra_share``: the share drawn from the pictures of ``extra_prompts`` (e.g.
    concepts a trick needs that the model does not draw yet).  ``init``: a saved UNet folder (e.g.
    data/emoji/unet) to fine-tune from, model and EMA both (a fresh optimizer; the schedule and step
    count start at 0; its ``training.json`` beside it is kept in the record as ``init_record``; ignored
    when resuming).  ``size``: 32, or 64 (the 64-px pictures and :data:`UNET_CONFIG_64`).
    Each invocation's settings are kept in the record's ``phases``.  Returns the record."""
    from tqdm import tqdm

    from ..checkpoint import load_state, save_state

    if threads:
        torch.set_num_threads(threads)
    rank, world = distributed()
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} must be a multiple of the {world} processes")
    dev = torch.device(device)
    out, work = Path(out), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        for p in remove_torn_files(work):
            print(f"removed the torn temporary file {p} of an interrupted run", flush=True)
    state_path = work / "state.safetensors"
    if resume and not state_path.is_file():
        raise FileNotFoundError(f"--resume: no training state at {state_path} (start without --resume)")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    check_recipe(weighting, focus, extra_prompts, extra_share, init)
    config = unet_config(size, config)
    data_file = SUBSET_FILES[size]
    subset = load_subset(data_file)  # read once: the pictures and their concepts
    x_all, per_image, table, null_ids = training_set(subset)
    labels = subset["labels"]
    focus_idx = focus_pictures(labels) if focus > 0 else None
    extra_idx = focus_pictures(labels, extra_prompts) if extra_share > 0 else None
    betas, abar = (v.to(dev) for v in schedule())
    unet = build_unet(config).to(dev, memory_format=torch.channels_last)
    if init is not None and not resume:
        try:
            weights = load_unet_weights(init)
        except ValueError as e:  # a torn or foreign weights file
            raise ValueError(f"--init {init}: {e}") from None
        try:
            unet.load_state_dict(weights)
        except RuntimeError as e:
            raise ValueError(f"--init {init}: its weights do not fit this run's UNet config ({str(e).splitlines()[0]})") from None
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    step, elapsed, losses, phases = 0, 0.0, [], []
    if resume:
        st = load_state(state_path)
        try:
            unet.load_state_dict(st["model"])
        except RuntimeError as e:
            raise ValueError(f"--resume: the training state at {state_path} is of another UNet than this run's "
                             f"(another --size or --tiny?): {str(e).splitlines()[0]}") from None
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["rng"])
        step, elapsed, losses = st["step"], st["elapsed"], [list(r) for r in st["losses"]]
        phases = [dict(p) for p in st.get("phases", [])] or [{"from_step": 0, "weighting": "uniform", "focus": 0.0}]
        if rank == 0:
            print(f"resumed from {state_path} at step {step} ({elapsed / 60:.1f} min)", flush=True)
    phase = {"from_step": step, "weighting": weighting, "focus": focus, "lr": lr, "minutes": minutes, "steps": steps,
             "command": " ".join(["python -m fundiff.emoji.train", *sys.argv[1:]])}
    if extra_share > 0:
        phase |= {"extra_prompts": list(extra_prompts), "extra_share": extra_share}
    if init is not None and not phases:  # read now: a later run may overwrite the training.json beside init
        phase["init"] = str(init)
        prior = Path(init).parent / "training.json"
        if prior.is_file():
            phase["init_record"] = {k: v for k, v in json.loads(prior.read_text()).items()
                                    if k != "losses_every_50_steps"}
    recipe = ("weighting", "focus", "lr", "minutes", "steps", "extra_prompts", "extra_share")
    if not phases or any(phases[-1].get(k) != phase.get(k) for k in recipe):
        phases.append(phase)
    weight = p2_weight(abar) if weighting == "p2" else None
    model = unet
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(unet)
    budget = minutes * 60 if minutes else None

    def progress() -> float:
        return max(step / steps, elapsed / budget if budget else 0.0)

    def save():
        if rank == 0:
            save_state({"model": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "rng": gen.get_state(), "step": step, "elapsed": elapsed, "losses": losses, "phases": phases},
                       state_path)

    n = len(x_all)
    bar = tqdm(total=steps, initial=step, disable=not progress_bar or rank != 0, desc="emoji", unit="step")
    unet.train()
    t_start, last_save, window, first = time.time() - elapsed, time.time(), [], step
    while progress() < 1.0 and not (stop_after and step - first >= stop_after):
        idx = draw_pictures(n, focus_idx, focus, batch_size, gen, extra_idx, extra_share)
        cap = draw_captions(per_image, idx, null_ids, p_uncond, gen)
        t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (batch_size,), generator=gen)
        eps = torch.randn((batch_size, *x_all.shape[1:]), generator=gen)
        mine = slice(rank, batch_size, world)
        x0, t, eps = x_all[idx[mine]].to(dev), t[mine].to(dev), eps[mine].to(dev)
        e = table[cap[mine]].to(dev).unsqueeze(1)
        x_t = q_sample(x0, t, eps, abar).contiguous(memory_format=torch.channels_last)
        for g in opt.param_groups:
            g["lr"] = lr_at(progress(), lr, WARMUP)
        o = model(x_t, t, encoder_hidden_states=e).sample
        simple, vlb = hybrid_loss(o.float(), x0, x_t, t, eps, betas, abar, weight)
        opt.zero_grad(set_to_none=True)
        (simple + vlb).backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), unet.parameters()):
                pe.lerp_(pm, 1 - min(ema_decay, (1 + step) / (10 + step)))
        window.append((simple.item(), vlb.item()))
        elapsed = time.time() - t_start
        bar.update(1)
        if step % 50 == 0:
            losses.append([step, *np.mean(window, axis=0).round(5).tolist()])
            window = []
            bar.set_postfix(simple=f"{losses[-1][1]:.4f}", vlb=f"{losses[-1][2]:.4f}",
                            img_s=f"{step * batch_size / max(elapsed, 1e-9):.0f}")
            if not progress_bar and rank == 0:
                print(f"step {step} simple {losses[-1][1]:.4f} vlb {losses[-1][2]:.4f} {elapsed / 60:.1f} min", flush=True)
        if time.time() - last_save > save_every_s:
            save()
            if rank == 0:
                save_pretrained_atomic(ema, work / "unet")
            last_save = time.time()
    bar.close()
    save()
    record = {
        "command": " ".join(["python -m fundiff.emoji.train", *sys.argv[1:]]),
        "seed": seed, "steps": step, "batch_size": batch_size, "processes": world, "device": str(dev),
        "images_seen": step * batch_size, "epochs": round(step * batch_size / n, 1),
        "wall_clock_s": round(elapsed, 1), "threads": torch.get_num_threads(),
        "optimizer": {"name": "AdamW", "lr": lr, "warmup_fraction": WARMUP, "schedule": "cosine to 5%",
                      "grad_clip": 1.0, "weight_decay": 0.0},
        "ema_decay": ema_decay, "p_uncond": p_uncond, "null_captions": list(NULL_CAPTIONS),
        "loss": "hybrid (L_simple + L_vlb, Improved DDPM); L_simple weighted per phase (uniform or P2)",
        "phases": [{k: v for k, v in ph.items() if k != "init_record"} for ph in phases],
        "data": {"file": f"data/emoji/{data_file.name}", "pictures": n, "concepts": len(set(map(tuple, per_image))),
                 "value_range": [-1, 1], "augmentation": None},
        "unet_config": UNET_CONFIG | config, "scheduler_config": SCHEDULER_CONFIG,
        "losses_every_50_steps": losses,
        "requested": {"steps": steps, "minutes": minutes},
    }
    if phases and "init_record" in phases[0]:
        record["init_record"] = phases[0]["init_record"]
    if rank == 0:
        save_pretrained_atomic(ema, out / "unet")
        from diffusers import DDPMScheduler

        DDPMScheduler(**SCHEDULER_CONFIG).save_pretrained(out / "scheduler")
        write_json_atomic(record, out / "training.json")
        print(f"wrote {out} after {step} steps, {elapsed / 60:.1f} min", flush=True)
    return record


def check_recipe(weighting: str, focus: float, extra_prompts: tuple[str, ...], extra_share: float,
                 init: Path | None) -> None:
    """ValueError (FileNotFoundError for ``init``) naming the flag and what was expected, for a recipe
    :func:`train` cannot run; the command turns it into its exit-2 message."""
    if weighting not in ("uniform", "p2"):
        raise ValueError(f"--weighting {weighting!r}: expected 'uniform' or 'p2'")
    for flag, v in (("--focus", focus), ("--extra-share", extra_share)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{flag} {v}: expected a share in [0, 1]")
    if extra_share > 0 and not extra_prompts:
        raise ValueError("--extra-share needs --extra-prompts 'a;b;…' (the prompts whose pictures to draw more often)")
    if extra_prompts:
        from .quality import concept

        for x in extra_prompts:
            try:
                concept(x)
            except ValueError as e:
                raise ValueError(f"--extra-prompts: {e}") from None
    if init is not None and not (Path(init) / "config.json").is_file():
        raise FileNotFoundError(f"--init {init}: expected a saved UNet folder (config.json and weights, e.g. data/emoji/unet)")


def load_unet_weights(folder: Path) -> dict:
    """The float32 state dict of a UNet saved by ``save_pretrained`` in ``folder`` (safetensors; a torn
    file gets :func:`fundiff.checkpoint.load_checked`'s clear error)."""
    from ..checkpoint import load_checked

    files = sorted(Path(folder).glob("*.safetensors"))
    if len(files) != 1:
        raise FileNotFoundError(f"{folder}: expected one .safetensors weights file, found {len(files)}")
    return {k: v.float() for k, v in load_checked(files[0])[0].items()}


def positive(kind):
    """An argparse type: ``kind`` (int or float) that must be > 0."""
    def parse(s):
        v = kind(s)
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v
    return parse


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.emoji.train", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=EMOJI_DIR, help="where the model is written (default data/emoji)")
    p.add_argument("--work", type=Path, default=Path("runs/emoji"), help="training state and snapshots")
    p.add_argument("--steps", type=positive(int), default=20000)
    p.add_argument("--minutes", type=positive(float), default=None, help="wall-clock budget")
    p.add_argument("--batch-size", type=positive(int), default=32)
    p.add_argument("--lr", type=positive(float), default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=positive(int), default=None)
    p.add_argument("--save-every", type=positive(float), default=300.0, help="seconds between training states")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--stop-after", type=positive(int), default=None, help="end after this many steps (resume later)")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    p.add_argument("--weighting", choices=("uniform", "p2"), default="uniform",
                   help="L_simple's weight over t: uniform, or P2 (1 − ᾱ_t, mean 1)")
    p.add_argument("--focus", type=float, default=0.0,
                   help="share of each batch drawn from the demo's and the metric's concepts (0..1)")
    p.add_argument("--extra-prompts", default="",
                   help="prompts separated by ';' whose pictures --extra-share of each batch is drawn from")
    p.add_argument("--extra-share", type=float, default=0.0, help="share of each batch drawn from --extra-prompts (0..1)")
    p.add_argument("--init", type=Path, default=None,
                   help="fine-tune from a saved UNet folder (e.g. data/emoji/unet) instead of a fresh one")
    p.add_argument("--size", type=int, choices=SIZES, default=32,
                   help="picture size: 32 (the shipped model) or 64 (IF stage 1's size; for a GPU)")
    p.add_argument("--tiny", action="store_true", help="a tiny UNet (tests)")
    a = p.parse_args(argv)
    try:
        torch.device(a.device)
    except RuntimeError:
        p.error(f"--device {a.device!r} is not a torch device (cpu, cuda, cuda:1, …)")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {a.device}: CUDA is not available on this machine")
    extra = tuple(x.strip() for x in a.extra_prompts.split(";") if x.strip())
    try:
        check_recipe(a.weighting, a.focus, extra, a.extra_share, a.init)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))

    tiny = (dict(block_out_channels=(16, 16, 32) + ((32,) if a.size == 64 else ()), norm_num_groups=8,
                 attention_head_dim=8) if a.tiny else None)
    train(a.out, a.work, a.steps, a.minutes, a.batch_size, a.lr, seed=a.seed, device=a.device, threads=a.threads,
          resume=a.resume, save_every_s=a.save_every, config=tiny, progress_bar=not a.no_progress,
          stop_after=a.stop_after, weighting=a.weighting, focus=a.focus, extra_prompts=extra,
          extra_share=a.extra_share, init=a.init, size=a.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
