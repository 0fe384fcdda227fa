"""Training on the CPU: three ops of a channels_last step on the kernel that is fastest for them.

Each computes the same function as the plain op (tests/test_fast.py checks values and gradients):
GELU on the contiguous NHWC view (:func:`gelu_nhwc`), channel concatenation that hands channels_last
gradients to the skip connections (:func:`cat_channels_nhwc`), and the UNet's Unflatten (a
ConvTranspose2d on a 1×1 input) as one matrix product (:func:`conv_transpose_1x1_as_matmul`).
:class:`CPUKernels` routes them; :func:`fundiff.fast.precision` enters it for CPU training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["gelu_nhwc", "cat_channels_nhwc", "conv_transpose_1x1_as_matmul", "CPUKernels"]


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
