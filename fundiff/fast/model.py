"""The fast path's wrapper: :class:`FastModel`, and the one call :func:`fast_model`.

A wrapped model keeps its parameters, eval()/train() state and state dict, returns float32 outputs,
runs its forward under :func:`~fundiff.fast.precision.precision` in its fast memory format, and in
eval() mode without gradients (sampling) runs the folded copy of ``sampling.py`` (traced, for the
diffusers UNets of Part A on a CPU with native bf16).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .precision import fast_dtype, precision
from .sampling import fuse_for_inference, prefers_channels_last, trace_frozen

__all__ = ["FastModel", "fast_model"]


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
        return f"enabled={self.enabled}, dtype={self.compute_dtype() if self.enabled else torch.float32}"

    # -- the fused inference copy ------------------------------------------------------------------
    def compute_dtype(self) -> torch.dtype:
        """What the inference copy computes in: the fast dtype of :func:`fast_dtype`, else float32."""
        return fast_dtype(self.device, channels_last=self.channels_last) or torch.float32

    def _weights_key(self):
        return tuple((t.data_ptr(), t._version) for t in
                     list(self.model.parameters()) + list(self.model.buffers()))

    def inference_model(self) -> nn.Module:
        """The folded/fused eval copy (built or rebuilt on demand)."""
        key = self._weights_key()
        if self._fused is None or self._fused[0] != key:
            net = fuse_for_inference(self.model, self.channels_last)[0]
            if self.device.type == "cpu" and self.compute_dtype() == torch.bfloat16:
                # weights stored in bf16 (folded in float32 first): autocast's per-call casts of every
                # weight become no-ops.  nn.Module.to, not a library's own .to (diffusers warns there).
                nn.Module.to(net, torch.bfloat16)
            self._fused = (key, net)
        return self._fused[1]

    # -- the traced inference copy (GroupNorm networks: the diffusers UNets of Part A) -------------
    TRACE_CACHE = 8  # call signatures kept

    def _traced_forward(self, args, kwargs):
        """``unet(sample, timestep, class_labels=…, return_dict=False)`` of a diffusers-style network on
        the CPU, run by its inference copy (in :meth:`compute_dtype`) traced and frozen with TorchScript
        (``torch.jit.trace`` → ``freeze`` → ``optimize_for_inference``: no Python between the ~250 ops
        of a step, oneDNN weights packed once).  One trace per call signature (every shape and dtype,
        which is all that the network's Python branches depend on), rebuilt when the weights change.
        Returns None where it does not apply or tracing fails (then the eager fused copy runs)."""
        if (self.device.type != "cpu" or self._trace_failed
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
        xb = x.to(self.compute_dtype()).contiguous()
        if traced is None:
            try:
                traced = trace_frozen(self.inference_model(), xb, t, labels)
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
        with precision(self.device, True, training=training, channels_last=self.channels_last):
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
