"""Speed of training and sampling, plain float32 vs the fast path: ``python -m fundiff.bench``.

For each workload it prints the plain baseline's and the fast path's images/s (best of ``--repeats``
rounds; the two run in separate fresh processes, see :class:`Worker`, taking turns round by round so
that a busy machine slows both alike), their ratio,
the FLOPs per image (counted with ``torch.utils.flop_counter.FlopCounterMode``: convolutions and
matrix products, forward and backward), and which fraction of the machine's measured 3×3-convolution
throughput each reached (float32 for the baseline, bfloat16 for the fast path), with the bound that
throughput puts on images/s.

Workloads (``--workloads``, default all):
  conv            the micro-benchmark: Conv2d(64→64, 3×3) on (128, 64, 28, 28), float32 NCHW and
                  channels_last, bfloat16 channels_last; forward and forward+backward GFLOP/s
  train-time      one training step (the loop body of ``fundiff.train.train``), time-conditioned UNet, D=64, batch 128
  train-class     the same, class-conditioned UNet (with the 10 % class drop), D=64, batch 128
  train-denoiser  the same, one-step denoiser UNet, D=128, batch 256
  sample-partb    Part B DDPM sampling with CFG (γ=5): 40 digits, T=300 (``--sample-steps`` of the 300
                  steps are timed and the time scaled to 300, unless ``--full``), solutions' ddpm_sample
  sample-parta    Part A's loop on the bundled model: 34 steps (990, 960, …, 0), 64 digits, CFG γ=7,
                  solutions' denoise.sample + guidance.cfg_estimator

Baseline = float32, NCHW, eager, the same model, optimizer and sampler code (``--no-fast``).
Fast = what ``python -m fundiff.train`` and the demo use by default on a CPU (see :mod:`fundiff.fast`).
For training it also prints the kernel CPU time and minor page faults per step: PyTorch's CPU
allocator returns large float32 blocks to the OS and faults them back in (zeroed) at the next step,
a real cost of the plain baseline that bfloat16's halved tensors mostly avoid.  On Linux (glibc),
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=17179869184`` in the environment keeps
freed blocks for reuse: on the 2-core development VM the plain class-UNet step went from about 1.5 to
1.23 s and the fast one from 0.67 to 0.61 s (the ratio from about 2.4× to 2.0×; measured before the
two ran in separate processes).  The same allocator state is why each configuration runs in a
process of its own (:class:`Worker`).

``--device cuda`` runs the same workloads on a GPU (fast = its mixed precision; no conv
micro-benchmark there).

Also here: :func:`parta_vs_diffusers`, the Part A loop against diffusers' own scheduler loop on the
bundled model (``python -m fundiff.bundled bench``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import fast as fastmod
from .checks import device_name, positive_int
from .impl import as_impl, load_impl

WORKLOADS = ("conv", "train-time", "train-class", "train-denoiser", "sample-partb", "sample-parta")
CL = torch.channels_last


def synced(fn, device):
    """fn followed by a wait for the device (CUDA runs asynchronously)."""
    if torch.device(device).type != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


def _rusage() -> tuple[float, float]:
    """(kernel CPU seconds, minor page faults) of this process so far (NaN on Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan"), float("nan")
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt


def _serve(conn, builder, kwargs: dict, threads: int | None) -> None:
    """The body of a worker process (:class:`Worker`): build ``fn = builder(**kwargs)``, then answer
    each message n with (seconds per call, kernel CPU seconds per call, minor page faults per call)
    over n calls of fn; None ends it.  Errors go back as ("error", traceback)."""
    import traceback

    try:
        if threads:
            torch.set_num_threads(threads)
        fn = synced(builder(**kwargs), kwargs.get("device", "cpu"))
        conn.send("ready")
        while (n := conn.recv()) is not None:
            (s0, f0), t0 = _rusage(), time.perf_counter()
            for _ in range(n):
                fn()
            dt, (s1, f1) = time.perf_counter() - t0, _rusage()
            conn.send((dt / n, (s1 - s0) / n, (f1 - f0) / n))
    except Exception:  # noqa: BLE001 - reported to the parent
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class Worker:
    """``builder(**kwargs)`` (a module-level function returning the workload as a no-argument
    callable) in a fresh process of its own, timed on request: ``worker.time(n)`` →
    (seconds per call, kernel seconds per call, page faults per call).

    Each configuration gets its own process because what a process ran before changes how fast a
    step runs: which freed memory glibc's allocator kept, and so how many pages the next step has to
    fault in (zeroed) from the OS.  Run in one process, the two configurations' rounds disturbed each
    other and inflated the ratio: ``python tools/same_process_check.py class`` on the development VM
    gave the plain class-UNet step 1.498 s (best of 5; 241k page faults per step) next to the fast
    one and 1.417 s (151k) alone, the fast step 0.648 s next to it and 0.658 s alone (2.31× vs 2.15×)."""

    def __init__(self, builder, threads: int | None = None, **kwargs):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.what = f"{builder.__name__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, builder, kwargs, threads), daemon=True)
        self.proc.start()
        child.close()
        self._answer()

    def _answer(self):
        try:
            msg = self.conn.recv()
        except EOFError:
            self.proc.join(timeout=5)
            raise RuntimeError(f"the benchmark worker {self.what} died (exit code {self.proc.exitcode})") from None
        if isinstance(msg, tuple) and msg and msg[0] == "error":
            raise RuntimeError(f"the benchmark worker {self.what} failed: {msg[1].strip().splitlines()[-1]}\n"
                               f"(its traceback:)\n{msg[1]}")
        return msg

    def time(self, n: int) -> tuple[float, float, float]:
        self.conn.send(n)
        return self._answer()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.kill()


def count_flops(fn) -> int:
    """FLOPs of one call of ``fn`` (convolutions and matrix products, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def best_time(fn, repeats: int, iters: int, warmup: int = 1) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` rounds of ``iters`` calls, in this process
    (for the single-op micro-benchmark)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best


def interleaved(workers: dict, repeats: int, iters: int, warmup: int = 1) -> dict:
    """{name: (best seconds per call, kernel seconds per call, page faults per call)} over ``repeats``
    rounds of ``iters`` calls of each :class:`Worker`, the workers taking turns within each round
    (after ``warmup`` untimed calls of each), so that a busy machine slows them alike; the kernel
    time and faults are those of the best round."""
    for w in workers.values():
        if warmup:
            w.time(warmup)
    best = {k: (float("inf"), float("nan"), float("nan")) for k in workers}
    for _ in range(repeats):
        for k, w in workers.items():
            r = w.time(iters)
            if r[0] < best[k][0]:
                best[k] = r
    return best


def side_by_side(builder, repeats: int, iters: int, threads: int | None = None, **kwargs) -> dict:
    """:func:`interleaved` timing of ``builder(fast=False, **kwargs)`` (the baseline, "base") and
    ``builder(fast=True, **kwargs)`` ("fast"), each in its own :class:`Worker` process."""
    workers = {}
    try:
        for name, fast in (("base", False), ("fast", True)):
            workers[name] = Worker(builder, threads, fast=fast, **kwargs)
        return interleaved(workers, repeats, iters)
    finally:
        for w in workers.values():
            w.close()


# ---------------------------------------------------------------------------------------------
# The conv micro-benchmark
# ---------------------------------------------------------------------------------------------

def conv_throughput(repeats: int = 3, batch: int = 128, channels: int = 64, size: int = 28) -> dict:
    """GFLOP/s of Conv2d(channels→channels, 3×3, padding 1) on (batch, channels, size, size): forward
    and forward+backward, in float32 NCHW, float32 channels_last and bfloat16 channels_last."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 3, 1, 1)
    x = torch.randn(batch, channels, size, size)
    flops_fwd = 2 * 9 * channels * channels * size * size * batch
    out = {}
    for name, mf, dtype in [("fp32_nchw", torch.contiguous_format, None), ("fp32_cl", CL, None),
                            ("bf16_cl", CL, torch.bfloat16)]:
        c = torch.nn.Conv2d(channels, channels, 3, 1, 1)
        c.load_state_dict(conv.state_dict())
        c = c.to(memory_format=mf)
        xi = x.contiguous(memory_format=mf).requires_grad_(True)

        def fwd(c=c, xi=xi, dtype=dtype):
            with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                c(xi)

        def fwd_bwd(c=c, xi=xi, dtype=dtype):
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                y = c(xi)
            y.backward(torch.ones_like(y))

        t = {"f": best_time(fwd, repeats, 3), "fb": best_time(fwd_bwd, repeats, 3)}
        out[name] = {"fwd_gflops": flops_fwd / t["f"] / 1e9, "fwd_bwd_gflops": 3 * flops_fwd / t["fb"] / 1e9}
    out["peak_fp32"] = max(out["fp32_nchw"]["fwd_gflops"], out["fp32_cl"]["fwd_gflops"])
    out["peak_bf16"] = out["bf16_cl"]["fwd_gflops"]
    return out


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def train_config(kind: str, hidden: int | None = None, batch_size: int | None = None, seed: int = 0):
    """The course's TrainConfig of ``kind`` ('time', 'class', 'denoiser'), with a width / batch size
    other than the course's where given."""
    from . import train as T

    changes = {k: v for k, v in dict(hidden=hidden, batch_size=batch_size).items() if v is not None}
    return replace(T.COURSE[kind], seed=seed, **changes)


def train_step_fn(kind: str, fast: bool, hidden: int | None = None, batch_size: int | None = None,
                  device: str = "cpu", seed: int = 0):
    """A function running one training step exactly as ``fundiff.train.train`` does (same model,
    Adam, loss and fast-path settings), on successive batches of the bundled digits
    (:func:`train_config` gives its batch size)."""
    from . import train as T
    from .data import load_digits

    cfg = train_config(kind, hidden, batch_size, seed)
    device = torch.device(device)
    torch.manual_seed(seed)
    model = T.build_model(cfg).to(device)
    st = T.fresh_state(cfg, model)
    if fast:
        model = model.to(memory_format=CL)
    schedule = load_impl("solutions").train.ddpm_schedule(cfg.beta1, cfg.beta2, cfg.num_ts)
    x_all, y_all = load_digits("train")
    n = len(x_all)
    perm = torch.randperm(n, generator=st["gen"])
    state = {"i": 0}
    model.train()

    def step():
        lo = (state["i"] * cfg.batch_size) % (n - cfg.batch_size)
        state["i"] += 1
        idx = perm[lo:lo + cfg.batch_size]
        x0 = x_all[idx].to(device)
        if fast:
            x0 = x0.contiguous(memory_format=CL)
        with T.precision_context(device, fast):
            loss = T.batch_loss(cfg, model, x0, y_all[idx].to(device), st["gen"], schedule, None)
        st["opt"].zero_grad(set_to_none=True)
        loss.float().backward()
        st["opt"].step()
        return loss.detach().item()

    return step


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------

def partb_sample_fn(fast: bool, steps: int, n: int = 40, hidden: int = 64, seed: int = 180, device: str = "cpu"):
    """One run of solutions' ddpm_sample with CFG (γ=5) for n digits over ``steps`` timesteps (the
    class-conditioned UNet, eval mode; its work per step is that of the T = 300 schedule)."""
    S = load_impl("solutions")
    torch.manual_seed(0)
    model = S.unet.ClassConditionalUNet(1, 10, hidden).eval().to(device)
    model = fastmod.fast_model(model, device, enabled=fast)
    schedule = S.train.ddpm_schedule(1e-4, 0.02, steps)
    c = F.one_hot(torch.arange(n) % 10, 10).float()

    def run():
        return S.train.ddpm_sample(model, (n, 1, 28, 28), schedule, torch.Generator().manual_seed(seed),
                                   c=c, guidance_scale=5.0)

    return run


def parta_sample_fn(fast: bool, n: int = 64, prompt: str = "7", guidance_scale: float = 7.0, seed: int = 180,
                    steps: int | None = None, device: str = "cpu"):
    """One run of Part A's loop (solutions' denoise.sample with guidance.cfg_estimator) on the
    bundled model: n digits of ``prompt`` over the strided timesteps 990, 960, …, 0 (34 steps), or
    the first ``steps`` of them (:func:`parta_steps` counts them)."""
    from .models import load_pretrained

    S = load_impl("solutions")
    pm = load_pretrained("bundled", device=device)
    pm = fastmod.fast_model(pm, enabled=fast)
    timesteps = S.denoise.strided_timesteps()[:parta_steps(steps)]
    est = S.guidance.cfg_estimator(pm.estimator(prompt), pm.estimator(pm.null_prompt), guidance_scale)

    def run():
        return S.denoise.sample(est, (n, 1, 28, 28), timesteps, pm.alphas_cumprod, torch.Generator().manual_seed(seed),
                                device=device)

    return run


def parta_steps(steps: int | None = None) -> int:
    """How many of Part A's strided timesteps (990, 960, …, 0) a run of :func:`parta_sample_fn` takes."""
    total = len(load_impl("solutions").denoise.strided_timesteps())
    return total if steps is None else min(steps, total)


def parta_available() -> str | None:
    """None if Part A's loop and the bundled model are there, else why not."""
    try:
        S = load_impl("solutions")
        for mod, fn in [("denoise", "sample"), ("denoise", "strided_timesteps"), ("guidance", "cfg_estimator")]:
            if not hasattr(getattr(S, mod, None), fn):
                return f"solutions/{mod}.py has no {fn} yet"
        from .models.mnist import BUNDLED_DIR

        if not (BUNDLED_DIR / "unet" / "diffusion_pytorch_model.safetensors").is_file():
            return f"the bundled model is not in {BUNDLED_DIR} yet"
    except Exception as e:  # noqa: BLE001 - report whatever is missing
        return f"{type(e).__name__}: {e}"
    return None


def parta_vs_diffusers(n: int = 64, guidance_scale: float = 5.0, repeats: int = 3, threads: int = 2, impl=None) -> dict:
    """Seconds to sample ``n`` digits with the 34 course timesteps and CFG: ours (the Part A loop of
    solutions/ on the bundled model's interface) vs a diffusers DDPMScheduler loop on the same UNet
    (``python -m fundiff.bundled bench``; both float32, one process).  Best of ``repeats``,
    alternating; also prints the largest difference between the two results."""
    from .metrics import cfg_sample
    from .models.mnist import diffusers_cfg_sample, load_bundled

    torch.set_num_threads(threads)
    impl = as_impl(impl)
    model = load_bundled("cpu")
    ts = impl.denoise.strided_timesteps()
    times = {"ours": [], "diffusers": []}
    outs = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs["ours"] = cfg_sample(model, "3", n, guidance_scale, torch.Generator().manual_seed(0), ts, impl)
        times["ours"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        outs["diffusers"] = diffusers_cfg_sample(model.unet, model.scheduler.config, 3, n, guidance_scale,
                                                 torch.Generator().manual_seed(0), ts).clamp(-1, 1)
        times["diffusers"].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    diff = float((outs["ours"] - outs["diffusers"]).abs().max())
    print(f"sampling {n} digits, {len(ts)} steps, CFG γ={guidance_scale}, {threads} threads, best of {repeats}:")
    print(f"  ours (solutions/ Part A loop): {best['ours']:.2f} s")
    print(f"  diffusers DDPMScheduler loop:  {best['diffusers']:.2f} s")
    print(f"  ratio ours/diffusers: {best['ours'] / best['diffusers']:.2f}; max |ours − diffusers| = {diff:.2e}")
    return {"seconds": best, "all": times, "max_abs_diff": diff, "n": n, "steps": len(ts), "threads": threads}


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def row(name, batch, base_s, fast_s, flops_img, per_call_images, conv=None, note=""):
    base_ips, fast_ips = per_call_images / base_s, per_call_images / fast_s
    r = {
        "workload": name, "batch": batch, "baseline_img_s": base_ips, "fast_img_s": fast_ips,
        "ratio": fast_ips / base_ips, "gflop_per_img": flops_img / 1e9,
        "baseline_s_per_call": base_s, "fast_s_per_call": fast_s, "note": note,
    }
    return add_conv_fractions(r, conv)


def add_conv_fractions(r, conv):
    flops_img = r["gflop_per_img"] * 1e9
    base_ips, fast_ips = r["baseline_img_s"], r["fast_img_s"]
    if conv and flops_img:
        r["baseline_frac_conv"] = base_ips * flops_img / 1e9 / conv["peak_fp32"]
        r["fast_frac_conv"] = fast_ips * flops_img / 1e9 / conv["peak_bf16"]
        r["bound_fp32_img_s"] = conv["peak_fp32"] * 1e9 / flops_img
        r["bound_bf16_img_s"] = conv["peak_bf16"] * 1e9 / flops_img
    return r


def print_row(r):
    line = (f"{r['workload']:<15} batch {r['batch']:>3}  baseline {r['baseline_img_s']:8.2f} img/s  "
            f"fast {r['fast_img_s']:8.2f} img/s  ratio {r['ratio']:5.2f}x  {r['gflop_per_img']:7.3f} GFLOP/img")
    if "baseline_frac_conv" in r:
        line += (f"  conv peak reached: baseline {r['baseline_frac_conv']:5.1%} fast {r['fast_frac_conv']:5.1%}"
                 f"  (bound {r['bound_fp32_img_s']:.3g} fp32 / {r['bound_bf16_img_s']:.3g} bf16 img/s)")
    print(line, flush=True)
    if r.get("note"):
        print(f"{'':<15} {r['note']}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=WORKLOADS, metavar="W",
                   help=f"any of {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed rounds (best is kept; default 3)")
    p.add_argument("--iters", type=positive_int, default=2, help="training steps per round (default 2; half for the denoiser)")
    p.add_argument("--sample-steps", type=positive_int, default=30,
                   help="DDPM steps timed per Part B sampling run, scaled to T=300 (default 30)")
    p.add_argument("--parta-steps", type=positive_int, default=None, help="Part A loop steps timed (default: all 34)")
    p.add_argument("--full", action="store_true", help="time complete T=300 Part B sampling runs")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", type=device_name, default="cpu", help="cpu (default) or cuda: on CUDA the fast path is the GPU's "
                                                    "mixed precision and the conv micro-benchmark is skipped")
    p.add_argument("--no-flops", action="store_true", help="skip counting FLOPs")
    p.add_argument("--hidden", type=positive_int, help="training workloads: UNet width D other than the course's (quick checks)")
    p.add_argument("--batch-size", type=positive_int, help="training workloads: batch size other than the course's")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = args.device
    if torch.device(device).type == "cuda":
        if not torch.cuda.is_available():
            p.error("--device cuda: no CUDA device here")
        args.workloads = [w for w in args.workloads if w != "conv"]
    info = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.processor() or platform.machine(),
            "fast_settings": fastmod.settings(device), "bf16_native": fastmod.bf16_supported("cpu")}
    print("fundiff.bench — plain float32 NCHW eager (baseline) vs the fast path, side by side", flush=True)
    print(f"torch {info['torch']}, {torch.get_num_threads()} threads, CPU capability "
          f"{info['fast_settings']['cpu_capability']}, native bf16: {info['bf16_native']}", flush=True)
    s = info["fast_settings"]
    print(f"fast path: autocast {s['autocast_dtype']} (training {s['training_autocast_dtype']}; GroupNorm UNets "
          f"{s['autocast_dtype_groupnorm_nchw']}; CPU bf16/fp32 conv speed {s['cpu_bf16_conv_speedup']}; "
          f"{s['conditioning']}), "
          f"{s['memory_format']}; sampling: {s['sampling']}; weights, optimizer (Adam) and loss float32", flush=True)
    print(f"timing: best of {args.repeats} interleaved rounds, wall clock, baseline and fast each in a fresh process "
          f"of its own; FLOPs = conv + matmul (FlopCounterMode)\n", flush=True)
    results = {"info": info, "rows": []}
    conv = None
    convs = []

    def remeasure_conv():
        """The conv peak is re-measured after every workload and the best kept: on a shared machine
        a single measurement may fall in a busier moment than the workloads did."""
        if convs:
            convs.append(conv_throughput(1))
            for k in ("peak_fp32", "peak_bf16"):
                conv[k] = max(c[k] for c in convs)

    if device == "cpu" and ("conv" in args.workloads or not args.no_flops):  # the fractions need FLOPs
        conv = conv_throughput(args.repeats)
        convs.append(dict(conv))
        results["conv"] = conv
        print("3x3 conv 64->64 on (128, 64, 28, 28), GFLOP/s:", flush=True)
        for k in ("fp32_nchw", "fp32_cl", "bf16_cl"):
            print(f"  {k:<10} forward {conv[k]['fwd_gflops']:7.1f}   forward+backward {conv[k]['fwd_bwd_gflops']:7.1f}",
                  flush=True)
        print(f"  machine's measured conv throughput: fp32 {conv['peak_fp32']:.1f}, bf16 {conv['peak_bf16']:.1f} GFLOP/s "
              f"(bf16/fp32 = {conv['peak_bf16'] / conv['peak_fp32']:.2f}x)\n", flush=True)

    for kind, name in [("time", "train-time"), ("class", "train-class"), ("denoiser", "train-denoiser")]:
        if name not in args.workloads:
            continue
        size = dict(hidden=args.hidden, batch_size=args.batch_size)
        bs = train_config(kind, **size).batch_size
        flops = 0 if args.no_flops else count_flops(train_step_fn(kind, False, device=device, **size))
        iters = max(1, args.iters // 2) if kind == "denoiser" else args.iters  # 8x the work per step
        t = side_by_side(train_step_fn, args.repeats, iters, args.threads, kind=kind, device=device, **size)
        (tb, sb, fb), (tf, sf, ff) = t["base"], t["fast"]
        r = row(name, bs, tb, tf, flops / bs, bs, conv,
                note=f"step: {tb:.3f} s baseline, {tf:.3f} s fast; per step in the kernel (page faults of "
                     f"fresh allocations): baseline {sb:.3f} s CPU, {fb:.0f} faults; fast {sf:.3f} s, {ff:.0f}")
        r["rusage"] = {"base": {"sys_s": sb, "minor_faults": fb}, "fast": {"sys_s": sf, "minor_faults": ff}}
        results["rows"].append(r)
        print_row(r)
        remeasure_conv()

    if "sample-partb" in args.workloads:
        steps = 300 if args.full else args.sample_steps
        flops = 0 if args.no_flops else count_flops(partb_sample_fn(False, steps, device=device))
        t = side_by_side(partb_sample_fn, args.repeats, 1, args.threads, steps=steps, device=device)
        scale = 300 / steps
        tb, tf = t["base"][0] * scale, t["fast"][0] * scale
        r = row("sample-partb", 40, tb, tf, flops * scale / 40, 40, conv,
                note=f"40 digits, T=300, CFG: {tb:.1f} s baseline, {tf:.1f} s fast"
                     + ("" if steps == 300 else f" (timed {steps} steps, scaled to 300)"))
        results["rows"].append(r)
        print_row(r)
        remeasure_conv()

    if "sample-parta" in args.workloads:
        why = parta_available()
        if why:
            print(f"sample-parta    skipped: {why}", flush=True)
        else:
            k, total = parta_steps(args.parta_steps), parta_steps()
            flops = 0 if args.no_flops else count_flops(parta_sample_fn(False, steps=k, device=device))
            t = side_by_side(parta_sample_fn, args.repeats, 1, args.threads, steps=k, device=device)
            scale = total / k
            tb, tf = t["base"][0] * scale, t["fast"][0] * scale
            r = row("sample-parta", 64, tb, tf, flops * scale / 64, 64, conv,
                    note=f"64 digits, {total} steps, CFG: {tb:.1f} s baseline, {tf:.1f} s fast"
                         + ("" if k == total else f" (timed {k} steps, scaled to {total})")
                         + "; bundled model, fast = its bf16 copy traced with TorchScript, NCHW (GroupNorm is slow "
                           "in channels_last)")
            results["rows"].append(r)
            print_row(r)
            remeasure_conv()

    if conv and results["rows"]:
        print(f"\nsummary (conv peak = best of {len(convs)} measurements, one after each workload: "
              f"fp32 {conv['peak_fp32']:.1f}, bf16 {conv['peak_bf16']:.1f} GFLOP/s):", flush=True)
        for r in results["rows"]:
            print_row(add_conv_fractions(r, conv))
        results["conv_measurements"] = convs
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
