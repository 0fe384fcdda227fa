"""The fast path: any model's forward in reduced precision, for training and sampling.

Two calls are all a caller needs::

    >>> from fundiff.fast import fast_model, precision
    >>> fast = fast_model(model)                 # same parameters, eval()/train(), float32 outputs
    >>> x0 = ddpm_sample(fast, shape, schedule, gen, c=c)   # any sampler, unchanged
    >>> with precision(device):                  # training: the loss in bf16 autocast
    ...     loss = ddpm_loss(model, x0.contiguous(memory_format=torch.channels_last), ...)

What the fast path does (weights, optimizer state and losses stay float32; what a model computes
is unchanged up to bfloat16 rounding):

- **bfloat16 autocast** (:func:`precision`): convolutions and matmuls run in bfloat16, which the CPU
  does twice as fast as float32 where it has AVX-512 BF16 / AMX (oneDNN kernels); on CUDA the GPU's
  own mixed precision (bfloat16 where supported, else float16 for sampling).
- **conditioning vectors in float32** (:class:`Float32Conditioning`, inside :func:`precision`): the
  Linear layers on (B, k) inputs — the UNets' time and class blocks — compute in float32, so that
  neighbouring timesteps t/(T − 1), which bfloat16 rounds to one value, stay apart.
- **channels_last** (NHWC) activations, the layout oneDNN's convolutions want (NCHW costs a
  reorder before and after every convolution, and a slower backward pass) — except for networks
  with GroupNorm (the diffusers UNets of Part A), whose CPU kernel is 10-30× slower on NHWC
  tensors: those stay NCHW (:func:`prefers_channels_last`).
- **training on the CPU** (:class:`CPUKernels`, inside :func:`precision`): three ops of a
  channels_last step run on the kernel that is fastest for them, computing the same function —
  GELU on the contiguous NHWC view (PyTorch's CPU GELU takes a 2× slower path for channels_last
  strides), channel concatenation handing channels_last gradients to the skip connections, and the
  UNet's Unflatten (a ConvTranspose2d on a 1×1 input) as one matrix product.
- **in eval() mode without gradients** (sampling), :func:`fast_model` runs a folded copy of the
  model: every ``Conv2d``/``ConvTranspose2d`` → ``BatchNorm2d`` → ``GELU``/``ReLU``/``SiLU`` run of an
  ``nn.Sequential`` becomes ONE oneDNN convolution with the batch norm folded into its weights,

      W' = W·γ/√(σ²+ε),   b' = (b − μ)·γ/√(σ²+ε) + β,

  and the activation as its post-op (the exact same function: erf GELU stays erf GELU).  The copy
  is rebuilt whenever the model's weights change (a training step, ``load_state_dict``); on a CPU
  with native bf16 its weights are stored in bfloat16 (folded in float32 first).
- **GroupNorm networks** (the diffusers UNets of Part A) stay NCHW, and on a CPU with native bf16
  their bf16 inference copy runs traced and frozen with TorchScript, one trace per input signature
  (:meth:`FastModel._traced_forward`): a step of the bundled model is ~250 small ops, and without
  Python between them (and with oneDNN's weights packed once) sampling runs ~1.3× faster than the
  eager bf16 copy.  Where tracing fails, the eager copy runs (with a warning).
- **where it is on by default** (:func:`default_enabled`): on the CPU.  On CUDA the same code runs
  the GPU's mixed precision when asked (``--fast``), but for these small models it measured slower
  than float32 on an H100, so it is off there by default.

Tried and left out, because they did not pay on a 2-core AVX-512 laptop-class CPU: ``torch.compile``
(inductor; minutes of compilation, and the compiled UNet step and BatchNorm+GELU were slower than
eager oneDNN), the fused Adam kernel (< 1 % of a step), float16 on the CPU (no native kernels).

``enabled=False`` everywhere gives the plain float32 NCHW computation (the ``--no-fast`` flags of
``python -m fundiff.train`` and ``python -m fundiff.demo``).  ``python -m fundiff.bench`` measures it.
"""
from __future__ import annotations

import copy
from contextlib import ExitStack, nullcontext
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["fast_model", "precision", "fast_dtype", "bf16_supported", "default_enabled", "CPUKernels",
           "Float32Conditioning", "linear_float32",
           "FastModel", "fuse_for_inference", "prefers_channels_last", "settings"]


# ---------------------------------------------------------------------------------------------
# Which precision a device runs fast
# ---------------------------------------------------------------------------------------------

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


def fast_dtype(device, training: bool = False) -> torch.dtype | None:
    """The reduced precision of ``device`` for autocast, or None where the fast path would not pay:
    bfloat16 on a CPU with native bf16 (else None: emulated bf16 is slower than float32) and on a
    GPU that has it; float16 on an older GPU for sampling only (training in float16 would need loss
    scaling, so it stays float32 there)."""
    device = torch.device(device)
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


def precision(device, enabled: bool = True, training: bool = False):
    """The context of the fast path on ``device``: autocast to :func:`fast_dtype` with the conditioning
    vectors kept float32 (:class:`Float32Conditioning`), and for training on the CPU
    :class:`CPUKernels` (the fastest kernel for three ops of a channels_last step, same function).
    A no-op context when ``enabled`` is False or the device has no fast reduced precision."""
    device = torch.device(device)
    dtype = fast_dtype(device, training) if enabled else None
    if dtype is None:
        return nullcontext()
    stack = ExitStack()
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


# ---------------------------------------------------------------------------------------------
# Training on the CPU: the fastest kernel for the same function
# ---------------------------------------------------------------------------------------------

def _is_nhwc(x) -> bool:
    """A 4-D tensor laid out channels_last (and not also NCHW-contiguous, as (B, C, 1, 1) is)."""
    return (isinstance(x, torch.Tensor) and x.ndim == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def gelu_nhwc(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU(x) for x: (B, C, H, W) in channels_last, computed on its contiguous (B, H, W, C) view.

    Elementwise: bit for bit the values of ``F.gelu`` on the same numbers laid out NCHW (the
    vectorized kernel the plain path runs).  On channels_last strides PyTorch's CPU kernel takes
    another path, about 2× slower forward and backward on (128, 64, 28, 28) bf16 (and rounding about
    one bf16 value in 20,000 one ulp apart).  Autograd differentiates through the two permutes."""
    return F.gelu(x.permute(0, 2, 3, 1), approximate=approximate).permute(0, 3, 1, 2)


class _CatChannelsLast(torch.autograd.Function):
    """torch.cat(xs, dim=1) whose backward gives each input a channels_last-contiguous gradient
    (a plain cat hands out strided channel slices of the NHWC gradient, and the elementwise kernels
    that consume them — gradient accumulation of the skip connections, GELU backward — run several
    times slower on such strides)."""

    @staticmethod
    def forward(ctx, *xs):
        ctx.sizes = [x.shape[1] for x in xs]
        return torch.cat(xs, dim=1)

    @staticmethod
    def backward(ctx, g):
        grads, lo = [], 0
        for n in ctx.sizes:
            grads.append(g[:, lo:lo + n].contiguous(memory_format=torch.channels_last))
            lo += n
        return tuple(grads)


def cat_channels_nhwc(xs) -> torch.Tensor:
    """cat(xs, dim=1) of channels_last tensors (B, C_i, H, W) → (B, ΣC_i, H, W), channels_last,
    with channels_last gradients (:class:`_CatChannelsLast`)."""
    return _CatChannelsLast.apply(*xs)


def conv_transpose_1x1_as_matmul(x, weight, bias=None):
    """ConvTranspose2d with kernel = stride = k, no padding, on a 1×1 input (the UNet's Unflatten):
    y[b, o, p, q] = bias[o] + Σ_i x[b, i] · W[i, o, p, q], i.e. one matrix product
    (B, I) @ (I, O·k·k).  x: (B, I, 1, 1), weight: (I, O, k, k) → (B, O, k, k) channels_last.
    oneDNN runs this shape as a strided deconvolution, 5-10× slower in training (backward weights)."""
    B, I = x.shape[:2]
    _, O, kh, kw = weight.shape
    y = (x.reshape(B, I) @ weight.reshape(I, O * kh * kw)).view(B, O, kh, kw)
    if bias is not None:
        y = y + bias.to(y.dtype).view(1, O, 1, 1)
    return y.contiguous(memory_format=torch.channels_last)


def _unflatten_like(args, kwargs) -> bool:
    x, w = args[0], args[1]
    names = ("bias", "stride", "padding", "output_padding", "groups", "dilation")
    p = dict(zip(names, args[2:]), **kwargs)

    def pair(v, default):
        v = default if v is None else v
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    return (isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[-2:] == (1, 1) and isinstance(w, torch.Tensor)
            and w.ndim == 4 and pair(p.get("stride"), 1) == tuple(w.shape[-2:]) and pair(p.get("padding"), 0) == (0, 0)
            and pair(p.get("output_padding"), 0) == (0, 0) and pair(p.get("dilation"), 1) == (1, 1)
            and p.get("groups", 1) == 1)


class CPUKernels(TorchFunctionMode):
    """Inside the fast path's CPU context, three ops run on the kernel that is fastest for them on a
    channels_last training step, computing the same function (tests/test_fast.py checks each against
    the plain op, values and gradients): ``F.gelu`` → :func:`gelu_nhwc`, ``torch.cat(dim=1)`` →
    :func:`cat_channels_nhwc`, and the Unflatten ``F.conv_transpose2d`` →
    :func:`conv_transpose_1x1_as_matmul`.  Any other call, and these on other layouts, pass through."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.gelu and args and _is_nhwc(args[0]):
            return gelu_nhwc(*args, **kwargs)
        if func is torch.cat and args and kwargs.get("dim", args[1] if len(args) > 1 else 0) in (1, -3) \
                and isinstance(args[0], (list, tuple)) and len(args[0]) > 1 and all(_is_nhwc(x) for x in args[0]) \
                and "out" not in kwargs:
            return cat_channels_nhwc(args[0])
        if func is F.conv_transpose2d and _unflatten_like(args, kwargs):
            bias = kwargs.get("bias", args[2] if len(args) > 2 else None)
            return conv_transpose_1x1_as_matmul(args[0], args[1], bias)
        return func(*args, **kwargs)


def settings(device="cpu", enabled: bool = True) -> dict:
    """What the fast path uses on ``device`` (for logs and the benchmark)."""
    device = torch.device(device)
    return {
        "enabled": enabled,
        "device": str(device),
        "autocast_dtype": str(fast_dtype(device)) if enabled else None,
        "training_autocast_dtype": str(fast_dtype(device, training=True)) if enabled else None,
        "memory_format": "channels_last" if enabled else "contiguous (NCHW)",
        "conditioning": "time/class Linear layers in float32" if enabled else None,
        "sampling": "BatchNorm folded + activation fused into oneDNN convolutions" if enabled else "eager",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# Sampling: fold BatchNorm into the convolutions, fuse the activation
# ---------------------------------------------------------------------------------------------

_ACTIVATIONS = {nn.GELU: "gelu", nn.ReLU: "relu", nn.SiLU: "swish"}


def _bn_scale_shift(bn: nn.BatchNorm2d):
    """(s, b) with BN_eval(y) = s·y + b per channel: s = γ/√(σ²+ε), b = β − μ·s."""
    s = (bn.running_var + bn.eps).rsqrt()
    if bn.weight is not None:
        s = s * bn.weight
    shift = -bn.running_mean * s
    if bn.bias is not None:
        shift = shift + bn.bias
    return s, shift


class FusedConv(nn.Module):
    """Conv2d or ConvTranspose2d (B, i, H, W) → (B, o, H', W'), with an eval-mode BatchNorm2d folded
    into its weight and bias and an optional activation (GELU, ReLU, SiLU) as a post-op: on a CPU with
    native bfloat16 one oneDNN call, elsewhere ``F.conv2d``/``F.conv_transpose2d`` + the activation.
    Inference only (no autograd through the oneDNN call)."""

    def __init__(self, conv: nn.Module, bn: nn.BatchNorm2d | None = None, act: nn.Module | None = None):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        w = conv.weight.detach().clone()
        b = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(
            w.shape[1] * conv.groups if self.transposed else w.shape[0], dtype=w.dtype, device=w.device)
        if bn is not None:
            s, shift = _bn_scale_shift(bn)
            w = w * (s.view(1, -1, 1, 1) if self.transposed else s.view(-1, 1, 1, 1))
            b = b * s + shift
        self.register_buffer("weight", w)
        self.register_buffer("bias", b)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.output_padding = getattr(conv, "output_padding", (0, 0))
        self.act = act
        self.act_name = _ACTIVATIONS.get(type(act)) if act is not None else "none"
        self.act_algorithm = getattr(act, "approximate", "none") if isinstance(act, nn.GELU) else "none"
        self._cast = None  # (dtype, weight, bias) cached in the compute dtype

    def _weights(self, dtype):
        if self._cast is None or self._cast[0] != dtype:
            self._cast = (dtype, self.weight.to(dtype).contiguous(memory_format=torch.channels_last),
                          self.bias.to(dtype))
        return self._cast[1], self._cast[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        if x.device.type == "cpu" and dtype == torch.bfloat16 and bf16_supported("cpu"):
            w, b = self._weights(torch.bfloat16)
            x = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            if self.transposed:
                return torch.ops.mkldnn._convolution_transpose_pointwise(
                    x, w, b, list(self.padding), list(self.output_padding), list(self.stride),
                    list(self.dilation), self.groups, self.act_name, [], self.act_algorithm)
            return torch.ops.mkldnn._convolution_pointwise(
                x, w, b, list(self.padding), list(self.stride), list(self.dilation), self.groups,
                self.act_name, [], self.act_algorithm)
        w, b = (self.weight, self.bias) if not torch.is_autocast_enabled(x.device.type) else self._weights(dtype)
        if self.transposed:
            y = F.conv_transpose2d(x.to(w.dtype), w, b, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)
        else:
            y = F.conv2d(x.to(w.dtype), w, b, self.stride, self.padding, self.dilation, self.groups)
        return self.act(y) if self.act is not None else y


def _fusable_conv(m: nn.Module) -> bool:
    if type(m) not in (nn.Conv2d, nn.ConvTranspose2d):
        return False
    if isinstance(m.padding, str) or getattr(m, "padding_mode", "zeros") != "zeros":
        return False
    return not (isinstance(m, nn.ConvTranspose2d) and m.groups != 1)


def _fusable_bn(m: nn.Module) -> bool:
    return type(m) is nn.BatchNorm2d and m.running_mean is not None and m.running_var is not None


def prefers_channels_last(model: nn.Module) -> bool:
    """channels_last pays for convolution + BatchNorm networks (the Part B UNets); PyTorch's CPU
    GroupNorm is 10-30× slower on channels_last tensors than on NCHW ones, so a network with
    GroupNorm (the diffusers UNets of Part A) runs faster in NCHW."""
    return not any(isinstance(m, nn.GroupNorm) for m in model.modules())


def fuse_for_inference(model: nn.Module, channels_last: bool = True) -> tuple[nn.Module, int]:
    """An eval-mode copy of ``model`` (its own tensors, no gradients, in the given memory format) in
    which every run Conv → BatchNorm2d → activation (BatchNorm and activation each optional, at least
    one present) inside an ``nn.Sequential`` is one :class:`FusedConv` (the others become
    ``nn.Identity`` so indices keep their meaning).  The model's own ``forward`` code runs unchanged.
    Returns (copy, number of fused runs)."""
    runs = []
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        kids = list(seq)
        i = 0
        while i < len(kids):
            if _fusable_conv(kids[i]):
                j = i + 1
                bn = kids[j] if j < len(kids) and _fusable_bn(kids[j]) else None
                j += bn is not None
                act = kids[j] if j < len(kids) and type(kids[j]) in _ACTIVATIONS else None
                j += act is not None
                if bn is not None or act is not None:
                    runs.append((seq, i, j))
                i = j
            else:
                i += 1
    clone = copy.deepcopy(model)
    clone.eval().requires_grad_(False)
    index = {id(m): m2 for m, m2 in zip(model.modules(), clone.modules())}
    for seq, i, j in runs:
        seq2 = index[id(seq)]
        kids = list(seq2)
        conv = kids[i]
        bn = next((k for k in kids[i + 1:j] if isinstance(k, nn.BatchNorm2d)), None)
        act = next((k for k in kids[i + 1:j] if type(k) in _ACTIVATIONS), None)
        with torch.no_grad():
            seq2[i] = FusedConv(conv, bn, act)
        for k in range(i + 1, j):
            seq2[k] = nn.Identity()
    return clone.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format), len(runs)


# ---------------------------------------------------------------------------------------------
# The wrapper
# ---------------------------------------------------------------------------------------------

def _to_fast_input(a, channels_last: bool):
    if isinstance(a, torch.Tensor) and a.ndim == 4 and a.is_floating_point():
        return a.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return a


def _to_float32(out, like_dtype=torch.float32):
    """Outputs (tensor, tuple, list, dict, dataclass-like with to_tuple) back to float32, contiguous."""
    if isinstance(out, torch.Tensor):
        if out.is_floating_point() and out.dtype != like_dtype:
            out = out.to(like_dtype)
        return out.contiguous() if out.ndim == 4 and not out.is_contiguous() else out
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return type(out)(*(_to_float32(o, like_dtype) for o in out))
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float32(o, like_dtype) for o in out)
    if isinstance(out, dict):
        for k in list(out.keys()):
            out[k] = _to_float32(out[k], like_dtype)
        return out
    return out


class _SampleOnly(nn.Module):
    """net(sample, timestep[, class_labels]) → the predicted tensor (for tracing)."""

    def __init__(self, net: nn.Module, with_labels: bool):
        super().__init__()
        self.net, self.with_labels = net, with_labels

    def forward(self, x, t, labels=None):
        if self.with_labels:
            return self.net(x, t, class_labels=labels, return_dict=False)[0]
        return self.net(x, t, return_dict=False)[0]


def _trace_frozen(net: nn.Module, x, t, labels=None):
    """``net`` (eval, bf16 weights) traced on these example inputs, frozen and optimized for inference."""
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notes; the TracerWarnings are about
        # shape-dependent branches, fixed by tracing once per input signature
        wrapper = _SampleOnly(net, labels is not None).eval()
        example = (x, t) if labels is None else (x, t, labels)
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


class FastModel(nn.Module):
    """``model`` on the fast path: its forward under :func:`precision` with 4-D float inputs in the
    model's fast memory format (:func:`prefers_channels_last`), returning float32 (contiguous) outputs.  The wrapped model is a submodule, so
    ``parameters()``, ``eval()``/``train()``, ``.training`` and devices are the model's own;
    ``state_dict``/``load_state_dict`` are the model's (no ``model.`` prefix); other attributes are
    looked up on the model.

    In ``eval()`` mode with gradients off (``torch.no_grad()``: samplers), the forward runs
    :func:`fuse_for_inference`'s copy, rebuilt when the weights change.  In ``train()`` mode, or with
    gradients on, it runs the model itself (autocast + channels_last), so gradients reach the model's
    float32 parameters.  ``enabled=False`` calls the model unchanged."""

    def __init__(self, model: nn.Module, device=None, enabled: bool = True, fuse: bool = True,
                 channels_last: bool | None = None):
        super().__init__()
        if isinstance(model, FastModel):
            model = model.model
        if not isinstance(model, nn.Module):
            raise TypeError(f"fast_model expects a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        first = next(iter(model.parameters()), None)
        self.device = torch.device(device) if device is not None else (
            first.device if first is not None else torch.device("cpu"))
        self.enabled = bool(enabled)
        self.fuse = bool(fuse) and self.enabled
        self.channels_last = prefers_channels_last(model) if channels_last is None else bool(channels_last)
        self._fused = None  # (key, fused copy)
        self._traced = {}   # call signature → TorchScript module (see _traced_forward)
        self._trace_failed = None
        self.training = model.training
        if self.enabled and self.channels_last:
            model.to(memory_format=torch.channels_last)  # the same values, NHWC strides

    # -- the model's identity ---------------------------------------------------------------------
    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            model = self._modules.get("model")
            if model is None:
                raise
            return getattr(model, name)

    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._fused = None
        self._traced = {}
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_repr(self) -> str:
        return f"enabled={self.enabled}, dtype={fast_dtype(self.device) if self.enabled else torch.float32}"

    # -- the fused inference copy ------------------------------------------------------------------
    def _weights_key(self):
        return tuple((t.data_ptr(), t._version) for t in
                     list(self.model.parameters()) + list(self.model.buffers()))

    def inference_model(self) -> nn.Module:
        """The folded/fused eval copy (built or rebuilt on demand)."""
        key = self._weights_key()
        if self._fused is None or self._fused[0] != key:
            net = fuse_for_inference(self.model, self.channels_last)[0]
            if self.device.type == "cpu" and fast_dtype(self.device) == torch.bfloat16:
                # weights stored in bf16 (folded in float32 first): autocast's per-call casts of every
                # weight become no-ops.  nn.Module.to, not a library's own .to (diffusers warns there).
                nn.Module.to(net, torch.bfloat16)
            self._fused = (key, net)
        return self._fused[1]

    # -- the traced inference copy (GroupNorm networks: the diffusers UNets of Part A) -------------
    TRACE_CACHE = 8  # call signatures kept

    def _traced_forward(self, args, kwargs):
        """``unet(sample, timestep, class_labels=…, return_dict=False)`` of a diffusers-style network on
        a CPU with native bf16, run by its bf16 inference copy traced and frozen with TorchScript
        (``torch.jit.trace`` → ``freeze`` → ``optimize_for_inference``: no Python between the ~250 ops
        of a step, oneDNN weights packed once).  One trace per call signature (every shape and dtype,
        which is all that the network's Python branches depend on), rebuilt when the weights change.
        Returns None where it does not apply or tracing fails (then the eager fused copy runs)."""
        if (self.device.type != "cpu" or fast_dtype(self.device) != torch.bfloat16 or self._trace_failed
                or len(args) != 2 or set(kwargs) - {"class_labels", "return_dict"} or kwargs.get("return_dict", True)
                or not hasattr(self.model, "config")):
            return None
        x, t = args
        labels = kwargs.get("class_labels")
        if not (isinstance(x, torch.Tensor) and x.ndim == 4 and x.is_floating_point()) or \
                not (labels is None or isinstance(labels, torch.Tensor)):
            return None
        t = t if isinstance(t, torch.Tensor) else torch.tensor(t)
        sig = lambda a: None if a is None else (tuple(a.shape), a.dtype)  # noqa: E731
        key = (self._weights_key(), sig(x), sig(t), sig(labels))
        traced = self._traced.get(key)
        xb = x.to(torch.bfloat16).contiguous()
        if traced is None:
            try:
                traced = _trace_frozen(self.inference_model(), xb, t, labels)
            except Exception as err:  # noqa: BLE001 - any failure: the eager path
                import warnings

                self._trace_failed = f"{type(err).__name__}: {err}"
                warnings.warn(f"fundiff.fast: tracing {type(self.model).__name__} failed ({self._trace_failed}); "
                              "sampling on the eager fast path instead", RuntimeWarning, stacklevel=3)
                return None
            self._traced = {k: v for k, v in self._traced.items() if k[0] == key[0]}  # drop old weights' traces
            while len(self._traced) >= self.TRACE_CACHE:
                self._traced.pop(next(iter(self._traced)))  # the oldest signature
            self._traced[key] = traced
        out = traced(xb, t) if labels is None else traced(xb, t, labels)
        return (out.float(),)

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if not self.enabled:
            return self.model(*args, **kwargs)
        args = tuple(_to_fast_input(a, self.channels_last) for a in args)
        kwargs = {k: _to_fast_input(v, self.channels_last) for k, v in kwargs.items()}
        training = self.model.training  # the model's own mode, however it was set
        use_fused = self.fuse and not training and not torch.is_grad_enabled()
        if use_fused and not self.channels_last:
            out = self._traced_forward(args, kwargs)
            if out is not None:
                return out
        net = self.inference_model() if use_fused else self.model
        with precision(self.device, True, training=training):
            out = net(*args, **kwargs)
        return _to_float32(out)


def fast_model(model, device=None, enabled: bool = True, fuse: bool = True):
    """The one call of the fast path for sampling (and training): ``model`` wrapped in
    :class:`FastModel` (an ``nn.Module`` with the model's parameters and eval/train state, float32
    outputs).  A Part A pretrained model (:mod:`fundiff.models`, an object with a ``unet`` module) is
    returned as a shallow copy whose ``unet`` is wrapped.  ``enabled=False`` returns ``model`` itself."""
    if not enabled:
        return model
    if not isinstance(model, nn.Module) and isinstance(getattr(model, "unet", None), nn.Module):
        wrapped = copy.copy(model)
        wrapped.unet = FastModel(model.unet, device if device is not None else getattr(model, "device", None),
                                 enabled=True, fuse=fuse)
        return wrapped
    return FastModel(model, device, enabled=True, fuse=fuse)
