"""Which reduced precision a device runs fast, and the fast path's autocast context.

:func:`precision` is bfloat16 autocast (float16 for sampling on an older GPU) with the conditioning
vectors kept float32 (:class:`Float32Conditioning`: neighbouring timesteps t/(T − 1) that bfloat16
rounds to one value stay apart) and, for training on the CPU, the rerouted kernels of
``training.py``.  :func:`default_enabled` says where the fast path is on by default (the CPU).
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack, nullcontext
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .training import CPUKernels

__all__ = ["bf16_supported", "cpu_bf16_speedup", "cpu_uses_bf16", "CPU_DTYPE_ENV", "BF16_MIN_SPEEDUP", "fast_dtype",
           "default_enabled", "add_cli_flags", "precision", "linear_float32", "Float32Conditioning", "settings"]


@lru_cache(maxsize=None)
def bf16_supported(device_type: str = "cpu") -> bool:
    """Whether ``device_type`` ('cpu' or 'cuda') runs bfloat16 convolutions natively (CPU: oneDNN
    with AVX-512 BF16 or AMX; CUDA: compute capability ≥ 8.0)."""
    if device_type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False


#: Environment variable that fixes the CPU's fast-path precision: "bfloat16" or "float32" (unset: measured).
CPU_DTYPE_ENV = "FUNDIFF_CPU_FAST_DTYPE"
#: bfloat16 is the CPU's fast precision only where its convolutions measured at least this much faster.
BF16_MIN_SPEEDUP = 1.15


@lru_cache(maxsize=None)
def cpu_bf16_speedup(batch: int = 32, channels: int = 64, size: int = 28, rounds: int = 5) -> float:
    """t_float32 / t_bfloat16 of one channels_last 3×3 convolution (channels → channels on
    (batch, channels, size, size), the Part B UNets' main layer), best of ``rounds`` interleaved
    timings each, measured once per process (~0.2 s); 0.0 without native bf16.

    Native bf16 is not always faster: with AMX (Sapphire Rapids and later) oneDNN's bf16 convolutions
    run several times faster than float32, but on a 2-core AVX-512 BF16 VM without AMX they measured
    0.57× of float32 (``python -m fundiff.bench --workloads conv``: 152 vs 267 GFLOP/s)."""
    if not bf16_supported("cpu"):
        return 0.0
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(batch, channels, size, size, generator=g).contiguous(memory_format=torch.channels_last)
        w = (torch.randn(channels, channels, 3, 3, generator=g) * 0.05).contiguous(memory_format=torch.channels_last)
        pairs = {torch.float32: (x, w), torch.bfloat16: (x.bfloat16(), w.bfloat16())}
        best = {dt: float("inf") for dt in pairs}
        for r in range(rounds + 1):
            for dt, (xi, wi) in pairs.items():
                t0 = time.perf_counter()
                F.conv2d(xi, wi, padding=1)
                if r:  # the first round warms oneDNN up
                    best[dt] = min(best[dt], time.perf_counter() - t0)
    return best[torch.float32] / best[torch.bfloat16]


def cpu_uses_bf16(channels_last: bool = True) -> bool:
    """Whether the CPU's fast path computes in bfloat16 (where the CPU has native bf16):

    - channels_last convolution networks (the Part B UNets, convolution-bound): where bf16
      convolutions measured ≥ :data:`BF16_MIN_SPEEDUP`× faster than float32 (:func:`cpu_bf16_speedup`);
    - NCHW GroupNorm networks (the diffusers UNets of Part A): always, since their GroupNorm, SiLU and
      attention ops move half the memory in bf16: traced they ran 1.25× faster than in float32 even
      on the VM whose bf16 convolutions were 0.6× of float32 (bundled UNet, batch 64: 90 vs 113 ms).

    ``FUNDIFF_CPU_FAST_DTYPE=bfloat16`` / ``float32`` fixes the choice (bfloat16 still needs native bf16)."""
    want = os.environ.get(CPU_DTYPE_ENV, "").strip().lower()
    if want in ("bfloat16", "bf16"):
        return bf16_supported("cpu")
    if want in ("float32", "fp32"):
        return False
    if want:
        raise ValueError(f"{CPU_DTYPE_ENV} must be 'bfloat16' or 'float32' (or unset: measured), got {want!r}")
    if not bf16_supported("cpu"):
        return False
    return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP if channels_last else True


def fast_dtype(device, training: bool = False, channels_last: bool = True) -> torch.dtype | None:
    """The reduced precision of ``device`` for autocast, or None where the fast path stays float32:
    on a CPU, bfloat16 where :func:`cpu_uses_bf16` for the network's layout (native bf16, and for
    channels_last convolution networks measured faster; slower bf16 would only cost time), else None
    (the fast path is then float32 channels_last with fused oneDNN convolutions); bfloat16 on a GPU that
    has it; float16 on an older GPU for sampling only (training in float16 would need loss scaling, so
    it stays float32 there)."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.bfloat16 if cpu_uses_bf16(channels_last) else None
    if bf16_supported(device.type):
        return torch.bfloat16
    if device.type == "cuda" and not training:
        return torch.float16
    return None


def default_enabled(device) -> bool:
    """Whether the fast path is on by default on ``device``: on a CPU, yes (bfloat16 autocast where
    the CPU has native bf16, channels_last everywhere); on CUDA, no — for the course's small models
    (28×28, batch ≤ 128) a GPU step is kernel-launch bound and autocast only adds casts: measured on an
    H100 (``python -m fundiff.bench --device cuda``) training ran at 0.90–0.95× and bundled-model
    sampling at 0.76× of float32 (Part B sampling 1.09×).  ``--fast`` turns it on there (the GPU's own
    mixed precision); DeepFloyd IF runs in float16 on CUDA by its own dtype."""
    return torch.device(device).type == "cpu"


def add_cli_flags(parser, what: str) -> None:
    """``--fast`` / ``--no-fast`` on an argparse parser; ``args.fast`` is None unless given (then
    :func:`default_enabled` of the device decides)."""
    parser.add_argument("--fast", dest="fast", action="store_true", default=None,
                        help=f"{what} on the fast path (the default on a CPU: bfloat16 autocast, channels_last; "
                             "on CUDA its mixed precision, off by default there: it does not pay for these small models)")
    parser.add_argument("--no-fast", dest="fast", action="store_false", help="plain float32 (NCHW) throughout")


def precision(device, enabled: bool = True, training: bool = False, channels_last: bool = True):
    """The context of the fast path on ``device``: autocast to :func:`fast_dtype` with the conditioning
    vectors kept float32 (:class:`Float32Conditioning`), and for training on the CPU
    :class:`CPUKernels` (the fastest kernel for three ops of a channels_last step, same function).
    A no-op context when ``enabled`` is False; where the device's fast path is float32
    (:func:`fast_dtype` None) only the CPU training kernels remain."""
    device = torch.device(device)
    if not enabled:
        return nullcontext()
    dtype = fast_dtype(device, training, channels_last)
    stack = ExitStack()
    if dtype is not None:
        stack.enter_context(torch.autocast(device.type, dtype=dtype))
        stack.enter_context(Float32Conditioning())
    if device.type == "cpu" and training:
        stack.enter_context(CPUKernels())
    return stack


# ---------------------------------------------------------------------------------------------
# Conditioning vectors in float32
# ---------------------------------------------------------------------------------------------

def linear_float32(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y = x Wᵀ + b for a 2-D input x: (B, in), W: (out, in) → (B, out), computed in float32 and
    returned in autocast's dtype (what autocast would return), differentiable.

    On the fast path the UNets' time and class blocks (Linear layers on (B, 1) and (B, 10) inputs) run
    this way: in bfloat16 a normalized timestep t ∈ [0, 1] keeps 8 significant bits, so neighbouring
    timesteps t/(T − 1) collapse to one input (300 steps give 279 distinct bfloat16 values), and the
    model could not tell them apart.  These products are < 0.1 % of a step's FLOPs."""
    out_dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    with torch.autocast(x.device.type, enabled=False):
        y = F.linear(x.float(), weight.float(), None if bias is None else bias.float())
    return y.to(out_dtype)


class Float32Conditioning(TorchFunctionMode):
    """Inside the fast path's autocast, ``F.linear`` on a 2-D input (B, in) — the per-sample
    conditioning vectors: time and class embeddings — runs in float32 (:func:`linear_float32`);
    convolutions and every other op are autocast's as before."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear and args and isinstance(args[0], torch.Tensor) and args[0].ndim == 2 \
                and args[0].is_floating_point() and torch.is_autocast_enabled(args[0].device.type):
            names = ("weight", "bias")
            p = dict(zip(names, args[1:]), **kwargs)
            return linear_float32(args[0], p["weight"], p.get("bias"))
        return func(*args, **kwargs)


def settings(device="cpu", enabled: bool = True) -> dict:
    """What the fast path uses on ``device`` (for logs and the benchmark)."""
    device = torch.device(device)
    return {
        "enabled": enabled,
        "device": str(device),
        "autocast_dtype": str(fast_dtype(device)) if enabled else None,
        "autocast_dtype_groupnorm_nchw": str(fast_dtype(device, channels_last=False)) if enabled else None,
        "cpu_bf16_conv_speedup": round(cpu_bf16_speedup(), 3) if device.type == "cpu" and enabled else None,
        "training_autocast_dtype": str(fast_dtype(device, training=True)) if enabled else None,
        "memory_format": "channels_last" if enabled else "contiguous (NCHW)",
        "conditioning": "time/class Linear layers in float32" if enabled else None,
        "sampling": "BatchNorm folded + activation fused into oneDNN convolutions" if enabled else "eager",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
