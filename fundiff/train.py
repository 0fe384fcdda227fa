"""Train the Part B models: ``python -m fundiff.train denoiser|time|class [options]``.

The course defaults (SPEC Part B) are the defaults here; ``--epochs``, ``--data``, ``--device``,
``--out``, ``--seed``, ``--impl`` change them.  Every epoch ends with an atomic checkpoint
(``OUT/last.safetensors``: weights, optimizer, LR scheduler, RNG, losses), so ``--resume`` after a
kill continues where the last finished epoch left off and gives the same numbers as an unbroken run.
Also written: ``epoch_NNN.safetensors`` (weights), ``losses.csv``, ``loss_curve.png`` and, after the
sample epochs, sample grids and a GIF of the denoising.  ``--ship`` also writes the sample epochs'
weights in fp16 to ``data/partb/`` (what the demo loads).

The fast path (default; ``--no-fast`` turns it off): channels_last tensors and bfloat16 autocast on
CPU (and on CUDA); weights, optimizer and loss stay float32.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from .checkpoint import load_checked, load_state, remove_torn_files, save_atomic, save_state
from .checks import check_device, check_writable_folder, device_name, positive_float, positive_int, seed_int
from .data import DATA_DIR, load_digits
from .impl import load_impl

SHIPPED_DIR = DATA_DIR / "partb"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one Part B model (defaults: the course's, SPEC §1.2 / §2.2 / §2.4)."""

    kind: str  # 'denoiser' | 'time' | 'class'
    hidden: int
    batch_size: int
    lr: float
    epochs: int
    lr_decay: bool  # ExponentialLR(γ = 0.1^(1/epochs)), stepped once per epoch
    sigma: float = 0.5  # denoiser only
    num_ts: int = 300
    beta1: float = 1e-4
    beta2: float = 0.02
    p_uncond: float = 0.1  # class only
    guidance_scale: float = 5.0  # class only
    seed: int = 0
    sample_epochs: tuple = field(default_factory=tuple)


COURSE = {
    "denoiser": TrainConfig("denoiser", hidden=128, batch_size=256, lr=1e-4, epochs=5, lr_decay=False,
                            sample_epochs=(1, 5)),
    "time": TrainConfig("time", hidden=64, batch_size=128, lr=1e-3, epochs=20, lr_decay=True,
                        sample_epochs=(5, 20)),
    "class": TrainConfig("class", hidden=64, batch_size=128, lr=1e-3, epochs=20, lr_decay=True,
                         sample_epochs=(5, 20)),
}


def check_config(cfg: TrainConfig) -> TrainConfig:
    """ValueError unless every setting of ``cfg`` is usable (positive sizes and epochs, a finite
    positive LR, a valid schedule and dropout probability, sample epochs inside the run)."""
    import math

    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig (e.g. fundiff.train.COURSE['time']), got {type(cfg).__name__}")
    if cfg.kind not in COURSE:
        raise ValueError(f"model kind must be 'denoiser', 'time' or 'class', got {cfg.kind!r}")
    for name in ("hidden", "batch_size", "epochs", "num_ts"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name == "num_ts" else 1):
            raise ValueError(f"{name} must be an integer ≥ {2 if name == 'num_ts' else 1}, got {v!r}")
    for name, lo, hi in (("lr", 0, math.inf), ("sigma", 0, math.inf), ("beta1", 0, 1), ("beta2", 0, 1)):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo < v < hi:
            raise ValueError(f"{name} must be a finite number in ({lo}, {hi}), got {v!r}")
    if cfg.beta2 < cfg.beta1:
        raise ValueError(f"beta2 must be ≥ beta1, got beta1={cfg.beta1}, beta2={cfg.beta2}")
    if not 0 <= cfg.p_uncond < 1 or not math.isfinite(cfg.guidance_scale):
        raise ValueError(f"p_uncond must be in [0, 1) and guidance_scale finite, got {cfg.p_uncond}, {cfg.guidance_scale}")
    bad = [e for e in cfg.sample_epochs if isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= cfg.epochs]
    if bad:
        raise ValueError(f"sample_epochs must be epochs of the run, in [1, {cfg.epochs}], got {list(cfg.sample_epochs)}")
    return cfg


def build_model(cfg: TrainConfig, impl=None) -> torch.nn.Module:
    """The UNet of ``cfg.kind`` from the implementation's unet.py."""
    unet = load_impl(impl or "solutions").unet
    if cfg.kind == "denoiser":
        return unet.UNet(1, cfg.hidden)
    if cfg.kind == "time":
        return unet.TimeConditionalUNet(1, cfg.hidden)
    if cfg.kind == "class":
        return unet.ClassConditionalUNet(1, 10, cfg.hidden)
    raise ValueError(f"model kind must be 'denoiser', 'time' or 'class', got {cfg.kind!r}")


def precision_context(device: torch.device, fast: bool):
    """bfloat16 autocast on the fast path where the device runs bf16 natively (:func:`fundiff.fast.precision`),
    nothing otherwise."""
    from .fast import precision

    return precision(device, fast, training=True)


def batch_loss(cfg: TrainConfig, model, x0, labels, gen: torch.Generator, schedule, impl) -> torch.Tensor:
    """The loss of one batch; every random draw comes from the CPU generator ``gen``, in a fixed
    order (noise, then t, then the class-drop mask), so runs and resumed runs repeat exactly."""
    train = load_impl(impl or "solutions").train
    B = x0.shape[0]
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)
    if x0.is_contiguous(memory_format=torch.channels_last):
        noise = noise.contiguous(memory_format=torch.channels_last)
    if cfg.kind == "denoiser":
        return train.denoiser_loss(model, x0, cfg.sigma, noise)
    t = torch.randint(0, cfg.num_ts, (B,), generator=gen).to(x0.device)
    abar = schedule["alphas_cumprod"].to(x0.device)
    if cfg.kind == "time":
        return train.ddpm_loss(model, x0, t, noise, abar)
    drop = (torch.rand(B, generator=gen) < cfg.p_uncond).to(x0.device)
    c = train.class_vector(labels, drop, 10)
    return train.ddpm_loss(model, x0, t, noise, abar, c)


def fresh_state(cfg: TrainConfig, model) -> dict:
    """Optimizer, scheduler and generator for a new run."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1 ** (1.0 / cfg.epochs)) if cfg.lr_decay else None
    gen = torch.Generator().manual_seed(cfg.seed)
    return {"opt": opt, "sched": sched, "gen": gen, "epoch": 0, "losses": []}


def checkpoint_dict(cfg: TrainConfig, model, st: dict, fast: bool) -> dict:
    return {
        "config": json.dumps(asdict(cfg)),
        "fast": fast,
        "epoch": st["epoch"],
        "losses": st["losses"],
        "model": model.state_dict(),
        "opt": st["opt"].state_dict(),
        "sched": st["sched"].state_dict() if st["sched"] else None,
        "rng": st["gen"].get_state(),
    }


def restore(cfg: TrainConfig, model, path: Path) -> dict:
    """Load ``path`` (written by :func:`checkpoint_dict`) into model and a fresh state."""
    saved = load_state(path)
    saved_cfg = json.loads(saved["config"])
    mine = asdict(cfg)
    diff = {k: (saved_cfg.get(k), mine[k]) for k in mine
            if k not in ("epochs", "sample_epochs") and saved_cfg.get(k) != mine[k]}
    if diff:
        raise ValueError(f"cannot resume {path}: its run used other settings ({diff}, saved vs asked)")
    model.load_state_dict(saved["model"])
    st = fresh_state(cfg, model)
    st["opt"].load_state_dict(saved["opt"])
    if st["sched"] is not None and saved["sched"] is not None:
        st["sched"].load_state_dict(saved["sched"])
    st["gen"].set_state(saved["rng"])
    st["epoch"], st["losses"] = saved["epoch"], list(saved["losses"])
    return st


def export_weights(model, path: Path, cfg: TrainConfig, epoch: int, dtype=torch.float32) -> Path:
    """Weights only (+ config and epoch in the metadata), atomically."""
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return save_atomic(tensors, path, {"config": json.dumps(asdict(cfg)), "epoch": str(epoch)})


def weights_config(meta: dict, path="the weights file") -> TrainConfig:
    """The TrainConfig stored in the metadata of a file written by :func:`export_weights`."""
    if "config" not in meta:
        raise ValueError(f"{path} has no fundiff config in its metadata: not written by fundiff.train")
    raw = json.loads(meta["config"])
    raw["sample_epochs"] = tuple(raw.get("sample_epochs", ()))
    return TrainConfig(**raw)


def load_weights(path: str | Path, impl=None, device="cpu", with_config: bool = False):
    """A Part B model from a weights file written by :func:`export_weights`, float32, in eval()
    (and its TrainConfig if ``with_config``)."""
    tensors, meta = load_checked(path)
    cfg = weights_config(meta, path)
    model = build_model(cfg, impl)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    model = model.to(device).eval()
    return (model, cfg) if with_config else model


def shipped_path(kind: str, epoch: int) -> Path:
    """Where the shipped weights of a Part B model after ``epoch`` epochs lie."""
    return SHIPPED_DIR / f"{kind}_epoch{epoch:02d}.safetensors"


def shipped_losses_path(cfg: TrainConfig) -> Path:
    """Where a shipped run's losses.csv lies: KIND_losses.csv for the course's epochs,
    KIND_EEep_losses.csv for a run of another length."""
    if cfg.epochs == COURSE[cfg.kind].epochs:
        return SHIPPED_DIR / f"{cfg.kind}_losses.csv"
    return SHIPPED_DIR / f"{cfg.kind}_{cfg.epochs}ep_losses.csv"


def load_shipped(kind: str, epoch: int, impl=None, device="cpu") -> torch.nn.Module:
    """The shipped Part B model ``kind`` ('denoiser', 'time', 'class') after ``epoch`` epochs."""
    path = shipped_path(kind, epoch)
    if not path.is_file():
        have = sorted(p.stem for p in SHIPPED_DIR.glob("*.safetensors"))
        raise FileNotFoundError(f"no shipped weights {path.name} in {SHIPPED_DIR}; shipped: {have}")
    return load_weights(path, impl, device)


def write_samples(cfg: TrainConfig, model, out: Path, epoch: int, impl=None, seed: int = 180,
                  fast: bool = False) -> list[Path]:
    """After ``epoch``: the denoiser's results on held-out digits at σ, or 40 DDPM samples (the
    class model: 4 of every digit with CFG) as a PNG grid and a GIF of the denoising."""
    from .pictures import save_gif, save_grid

    train = load_impl(impl or "solutions").train
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    tag = f"epoch{epoch:02d}"
    model.eval()
    if cfg.kind == "denoiser":
        x, _ = load_digits("heldout")
        x = x[::50][:10].to(device)
        z = train.add_noise(x, cfg.sigma, torch.randn(x.shape, generator=gen).to(device))
        with torch.no_grad():
            d = model(z)
        model.train()
        return [save_grid(torch.cat([x, z, d]), out / f"denoised_{tag}.png", nrow=10)]
    schedule = train.ddpm_schedule(cfg.beta1, cfg.beta2, cfg.num_ts)
    frames = []
    c = None
    if cfg.kind == "class":
        c = torch.nn.functional.one_hot(torch.arange(10).repeat(4), 10).float()

    def keep(t, x):
        if t % 10 == 0:
            frames.append(x.clamp(0, 1).cpu())

    from .fast import fast_model

    x = train.ddpm_sample(fast_model(model, device, enabled=fast), (40, 1, 28, 28), schedule, gen, c=c,
                          guidance_scale=cfg.guidance_scale, callback=keep)
    model.train()
    return [save_grid(x, out / f"samples_{tag}.png", nrow=10),
            save_gif(frames, out / f"samples_{tag}.gif", nrow=10)]


def write_losses(losses, out: Path, cfg: TrainConfig, steps_per_epoch: int) -> None:
    from .pictures import plot_losses

    tmp = out / "losses.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "epoch", "loss"])
        for i, loss in enumerate(losses):
            w.writerow([i, i // steps_per_epoch + 1, f"{loss:.6g}"])
    tmp.replace(out / "losses.csv")
    plot_losses(losses, out / "loss_curve.png", f"{cfg.kind} UNet, D={cfg.hidden}", steps_per_epoch)


def train(cfg: TrainConfig, out: str | Path, data_root=None, device="cpu", fast: bool = True,
          resume: bool = False, impl=None, ship: bool = False, progress: bool = True,
          stop_after: int | None = None, limit: int | None = None) -> torch.nn.Module:
    """Train ``cfg`` into the folder ``out`` (see the module doc).  ``stop_after`` ends the run
    after that many epochs of this call (for tests of resuming); ``limit`` trains on the first
    ``limit`` digits only (smoke runs and tests).  The initial weights come from ``cfg.seed`` (the
    global torch RNG is left as it was).  ``resume=True`` continues the run in ``out`` when there is
    one and starts it otherwise (the command's ``--resume`` insists on a checkpoint); temporary files
    torn by a kill in the middle of a write are deleted first.  Returns the model (float32)."""
    from tqdm.auto import tqdm

    check_config(cfg)
    out = Path(out)
    device = check_device(device)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"the run folder {out} is a file: --out must name a folder")
    for name, v in (("limit", limit), ("stop_after", stop_after)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be None or a positive int, got {v!r}")
    last = out / "last.safetensors"
    if last.exists() and not resume:
        raise FileExistsError(f"{out} already holds a training run ({last.name}): pass --resume to "
                              "continue it, or choose another --out")
    for torn in remove_torn_files(out):
        if progress:
            print(f"removed {torn}, a file torn by an interrupted write", file=sys.stderr, flush=True)
    x_all, y_all = load_digits("train", root=data_root)
    if limit is not None:
        x_all, y_all = x_all[:limit], y_all[:limit]
    if not len(x_all):
        raise ValueError(f"no training digits (data {data_root or 'bundled'}, limit {limit}): nothing to train on")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, impl).to(device)
    st = restore(cfg, model, last) if (resume and last.exists()) else fresh_state(cfg, model)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    schedule = load_impl(impl or "solutions").train.ddpm_schedule(cfg.beta1, cfg.beta2, cfg.num_ts)
    n = len(x_all)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    out.mkdir(parents=True, exist_ok=True)
    done_here = 0
    while st["epoch"] < cfg.epochs and (stop_after is None or done_here < stop_after):
        epoch = st["epoch"] + 1
        model.train()
        perm = torch.randperm(n, generator=st["gen"])
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg.kind} epoch {epoch}/{cfg.epochs}",
                   disable=not progress, leave=False, file=sys.stderr)
        running = None
        for i in bar:
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x0 = x_all[idx].to(device)
            if fast:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            with precision_context(device, fast):
                loss = batch_loss(cfg, model, x0, y_all[idx].to(device), st["gen"], schedule, impl)
            st["opt"].zero_grad(set_to_none=True)
            loss.float().backward()
            st["opt"].step()
            value = loss.detach().item()
            st["losses"].append(value)
            running = value if running is None else 0.9 * running + 0.1 * value
            bar.set_postfix(loss=f"{running:.4f}")
        if st["sched"] is not None:
            st["sched"].step()
        st["epoch"] = epoch
        done_here += 1
        export_weights(model, out / f"epoch_{epoch:03d}.safetensors", cfg, epoch)
        save_state(checkpoint_dict(cfg, model, st, fast), last)
        write_losses(st["losses"], out, cfg, steps_per_epoch)
        if progress:
            print(f"{cfg.kind} epoch {epoch}/{cfg.epochs}: mean loss {sum(st['losses'][-steps_per_epoch:]) / steps_per_epoch:.4f}",
                  file=sys.stderr, flush=True)
        if epoch in cfg.sample_epochs:
            write_samples(cfg, model, out, epoch, impl, fast=fast)
            if ship:
                export_weights(model, shipped_path(cfg.kind, epoch), cfg, epoch, torch.float16)
                shutil.copyfile(out / "losses.csv", shipped_losses_path(cfg))
    return model.to(memory_format=torch.contiguous_format)


def parse_args(argv=None) -> argparse.Namespace:
    from .fast import add_cli_flags

    p = argparse.ArgumentParser(prog="python -m fundiff.train", description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=sorted(COURSE), help="which Part B model to train")
    p.add_argument("--epochs", type=positive_int, help="number of epochs (course: 5 for denoiser, 20 otherwise)")
    p.add_argument("--data", default="bundled",
                   help="'bundled' (the 4,500 shipped training digits) or a folder with torchvision's MNIST")
    p.add_argument("--download", action="store_true", help="download full MNIST into --data if missing")
    p.add_argument("--device", type=device_name, default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="run folder (default runs/KIND)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--hidden", type=positive_int, help="D, the UNet width")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--sample-epochs", type=positive_int, nargs="*", help="epochs after which to write samples")
    p.add_argument("--impl", default="solutions", help="solutions | exercises | PATH (whose unet.py/train.py)")
    add_cli_flags(p, "training")
    p.add_argument("--ship", action="store_true", help="also write the sample epochs' weights to data/partb")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--limit", type=positive_int, help="train on the first N digits only (a quick smoke run)")
    args = p.parse_args(argv)
    args.parser = p
    return args


def check_args(args) -> tuple[TrainConfig, Path]:
    """(config, run folder) of the parsed command line; argparse's error (exit 2, one line) for a
    combination that cannot run: sample epochs outside the run, --download without a --data folder,
    an --out that is a file, --resume without a checkpoint or of a finished run, an existing run
    without --resume, an --impl that does not load."""
    from .impl import ImplError

    p = args.parser
    cfg = COURSE[args.kind]
    changes = {k: v for k, v in dict(epochs=args.epochs, hidden=args.hidden, batch_size=args.batch_size,
                                     lr=args.lr, seed=args.seed).items() if v is not None}
    if args.sample_epochs is not None:
        changes["sample_epochs"] = tuple(args.sample_epochs)
    cfg = replace(cfg, **changes)
    try:
        check_config(cfg)
    except ValueError as err:
        p.error(str(err).replace("sample_epochs", "--sample-epochs"))
    if args.download and args.data == "bundled":
        p.error("--download needs --data DIR, the folder to download the full MNIST into")
    if args.data != "bundled" and not args.download and not Path(args.data).is_dir():
        p.error(f"--data {args.data}: no such folder (expected 'bundled' or a folder holding torchvision's MNIST; "
                "add --download to fetch it)")
    out = Path(args.out or f"runs/{args.kind}")
    try:
        check_writable_folder(out, "--out")
    except ValueError as err:
        p.error(f"{err} (--out names the run folder)")
    last = out / "last.safetensors"
    if args.resume:
        if not last.is_file():
            p.error(f"--resume: {out} holds no checkpoint to resume ({last} is missing); leave out --resume "
                    "to start a new run there")
        try:
            done = load_state(last)["epoch"]
        except (ValueError, KeyError) as err:
            p.error(f"--resume: {err}")
        if done >= cfg.epochs:
            p.error(f"--resume: the run in {out} has already trained {done} epochs (--epochs {cfg.epochs}): "
                    "nothing to do; pass a larger --epochs to train it further")
    elif last.exists():
        p.error(f"--out {out} already holds a training run ({last.name}): pass --resume to continue it, "
                "or choose another --out")
    try:
        impl = load_impl(args.impl)
        impl.module("unet")
        impl.module("train")
    except ImplError as err:
        p.error(f"--impl {args.impl}: {err}")
    try:
        check_writable_folder(out, "--out", create=True)
    except ValueError as err:
        p.error(f"{err} (--out names the run folder)")
    return cfg, out


def main(argv=None) -> int:
    from .data import DataError
    from .fast import default_enabled
    from .impl import ImplError

    args = parse_args(argv)
    cfg, out = check_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_root = None if args.data == "bundled" else args.data
    t0 = time.perf_counter()
    fast = default_enabled(args.device) if args.fast is None else args.fast
    try:
        if data_root and args.download:
            load_digits("train", root=data_root, download=True)
        train(cfg, out, data_root, args.device, fast, args.resume, args.impl, args.ship, limit=args.limit)
    except (DataError, ImplError, ValueError, FileExistsError) as err:  # the checks' clear messages
        print(f"{args.parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {cfg.kind} for {cfg.epochs} epochs in {time.perf_counter() - t0:.0f} s → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
