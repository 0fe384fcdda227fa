"""Sampling on the fast path: BatchNorm folded into the convolutions, the activation fused, and
GroupNorm networks traced.

:func:`fuse_for_inference` copies a model with every Conv → BatchNorm2d → activation run of an
``nn.Sequential`` as one :class:`FusedConv` (one oneDNN call on a CPU with native bf16):

    W' = W·γ/√(σ²+ε),   b' = (b − μ)·γ/√(σ²+ε) + β.

Networks with GroupNorm (the diffusers UNets of Part A) stay NCHW (:func:`prefers_channels_last`)
and their bf16 copy runs traced and frozen with TorchScript (:func:`trace_frozen`).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .precision import bf16_supported

__all__ = ["FusedConv", "fuse_for_inference", "prefers_channels_last", "trace_frozen"]


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
    into its weight and bias and an optional activation (GELU, ReLU, SiLU) as a post-op: on a CPU one
    oneDNN call (float32, or bfloat16 under autocast where native), elsewhere
    ``F.conv2d``/``F.conv_transpose2d`` + the activation.
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
        if x.device.type == "cpu" and ((dtype == torch.bfloat16 and bf16_supported("cpu")) or
                                       (dtype == torch.float32 and torch.backends.mkldnn.is_available())):
            w, b = self._weights(dtype)
            x = x.to(dtype).contiguous(memory_format=torch.channels_last)
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
# Tracing (GroupNorm networks: the diffusers UNets of Part A)
# ---------------------------------------------------------------------------------------------

class _SampleOnly(nn.Module):
    """net(sample, timestep[, class_labels]) → the predicted tensor (for tracing)."""

    def __init__(self, net: nn.Module, with_labels: bool):
        super().__init__()
        self.net, self.with_labels = net, with_labels

    def forward(self, x, t, labels=None):
        if self.with_labels:
            return self.net(x, t, class_labels=labels, return_dict=False)[0]
        return self.net(x, t, return_dict=False)[0]


def trace_frozen(net: nn.Module, x, t, labels=None):
    """``net`` (eval, weights in its compute dtype) traced on these example inputs, frozen and
    optimized for inference."""
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notes; the TracerWarnings are about
        # shape-dependent branches, fixed by tracing once per input signature
        wrapper = _SampleOnly(net, labels is not None).eval()
        example = (x, t) if labels is None else (x, t, labels)
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
