"""The interface every pretrained noise predictor of Part A has: :class:`PretrainedModel`.

A model (what ``fundiff.models.load_pretrained(name)`` returns) has::

    .name                 a short name
    .alphas_cumprod       ᾱ, (T,) float32 on the CPU (0-based: ᾱ_t = alphas_cumprod[t])
    .image_shape          (C, H, W) of the images it makes
    .value_range          (-1.0, 1.0)
    .device, .dtype       where and in which precision the network runs
    .prompts              the prompts it understands (list), or None = any text
    .null_prompt          "" (the unconditional prompt of classifier-free guidance)
    .encode_prompt(prompt: str) -> conditioning      (ValueError listing .prompts for a bad prompt)
    .predict(x_t, t, cond) -> (eps, v or None)       x_t (B, C, H, W), t an int in [0, T);
                                                     eps, v: (B, C, H, W), x_t's dtype and device
    .estimator(prompt: str) -> est(x_t, t) -> (eps, v or None)   the noise estimator of a prompt
    .check_image(x, what="image")                    ValueError unless x is (B, C, H, W) in value_range
    .load_image(path_or_pil) -> (1, C, H, W)         any picture, resized and mapped to value_range

Writing a model (one file of this package, e.g. ``mnist.py``): subclass :class:`PretrainedModel`,
set the attributes in ``__init__`` (call ``super().__init__(...)``), and implement two methods:
``_encode(prompt) -> cond`` (called only with a checked prompt) and ``_predict(x_t, t, cond) ->
(eps, v or None)`` (called with x_t already checked and moved to ``.device``/``.dtype``, inside
``torch.no_grad()``).  The base class does the checks and the dtype/device round trip; its helpers
:func:`check_noisy_input`, :func:`check_prompt` and :func:`check_clean_image` are plain functions
that can be used on their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

__all__ = ["PretrainedModel", "check_noisy_input", "check_prompt", "check_clean_image", "default_device"]


def default_device(device=None) -> torch.device:
    """``device`` as a torch.device; None → CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# --------------------------------------------------------------------------------------------
# Input checks shared by every model
# --------------------------------------------------------------------------------------------

def check_noisy_input(x_t, t, image_shape, num_train_timesteps: int) -> int:
    """ValueError unless x_t is a (B, C, H, W) floating tensor with (C, H, W) = image_shape and t an
    integer timestep in [0, T).  Returns t as a python int."""
    if not isinstance(x_t, torch.Tensor):
        raise ValueError(f"x_t must be a torch.Tensor of shape (B, {', '.join(map(str, image_shape))}), "
                         f"got {type(x_t).__name__}")
    if x_t.ndim != 4 or tuple(x_t.shape[1:]) != tuple(image_shape):
        raise ValueError(f"x_t must have shape (B, {', '.join(map(str, image_shape))}) (B images with "
                         f"{image_shape[0]} channels of {image_shape[1]}×{image_shape[2]} pixels), "
                         f"got {tuple(x_t.shape)}")
    if not x_t.is_floating_point():
        raise ValueError(f"x_t must be a floating-point tensor, got {x_t.dtype}")
    if not bool(torch.isfinite(x_t).all()):
        raise ValueError(f"x_t holds NaN or inf values ({int((~torch.isfinite(x_t)).sum())} of {x_t.numel()}): "
                         "expected finite numbers")
    if isinstance(t, torch.Tensor):
        if t.numel() != 1:
            raise ValueError(f"t must be one integer timestep (a python int), got a tensor of shape {tuple(t.shape)}")
        t = t.item()
    if hasattr(t, "item") and not isinstance(t, (int, float)):  # a numpy scalar
        t = t.item()
    if isinstance(t, float) and t.is_integer():
        t = int(t)
    if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < num_train_timesteps:
        raise ValueError(f"t must be an integer timestep in [0, {num_train_timesteps}), got {t!r}")
    return t


def check_prompt(prompt, prompts) -> str:
    """ValueError unless ``prompt`` is a string and (when ``prompts`` is a list) one of them."""
    if not isinstance(prompt, str):
        raise ValueError(f"a prompt must be a str, got {type(prompt).__name__}")
    if prompts is not None and prompt not in prompts:
        shown = ", ".join(repr(p) for p in list(prompts)[:40])
        more = f" (and {len(prompts) - 40} more)" if len(prompts) > 40 else ""
        raise ValueError(f"unknown prompt {prompt!r}: this model understands {shown}{more}")
    return prompt


def check_clean_image(x, image_shape, value_range=(-1.0, 1.0), what: str = "image", tol: float = 1e-3) -> None:
    """ValueError unless x is a (B, C, H, W) floating tensor with (C, H, W) = image_shape and values in
    ``value_range`` (up to ``tol``): catches [0, 1] or [0, 255] images fed to a [-1, 1] model."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a (B, C, H, W) tensor, got {got}")
    if x.shape[1] != image_shape[0]:
        raise ValueError(f"{what} must have {image_shape[0]} channels (shape (B, "
                         f"{', '.join(map(str, image_shape))})), got {x.shape[1]} (shape {tuple(x.shape)})")
    if tuple(x.shape[2:]) != tuple(image_shape[1:]):
        raise ValueError(f"{what} must be {image_shape[1]}×{image_shape[2]} pixels, got "
                         f"{x.shape[2]}×{x.shape[3]}: resize it first (e.g. model.load_image)")
    if not x.is_floating_point():
        raise ValueError(f"{what} must be a floating-point tensor with values in {list(value_range)}, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} holds NaN or inf values: expected finite numbers in {list(value_range)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < value_range[0] - tol or hi > value_range[1] + tol:
        raise ValueError(f"{what} values must lie in {list(value_range)}, got [{lo:.3g}, {hi:.3g}]"
                         + (": map [0, 1] images with x * 2 - 1" if lo >= 0 else ""))


class PretrainedModel:
    """The interface of a pretrained noise predictor (see the module docstring).  Subclasses set the
    attributes and implement ``_encode`` and ``_predict``."""

    null_prompt = ""
    value_range = (-1.0, 1.0)

    def __init__(self, name: str, alphas_cumprod: torch.Tensor, image_shape, device=None,
                 dtype: torch.dtype = torch.float32, prompts=None):
        self.name = name
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod).detach().to("cpu", torch.float32).clone()
        a = self.alphas_cumprod
        if a.ndim != 1 or not len(a) or not bool(torch.isfinite(a).all()) or float(a.min()) <= 0 or float(a.max()) > 1:
            raise ValueError(f"alphas_cumprod must be a (T,) tensor of ᾱ_t in (0, 1], got shape {tuple(a.shape)}"
                             + (f", values in [{float(a.min()):.3g}, {float(a.max()):.3g}]" if a.numel() else ""))
        self.image_shape = tuple(int(s) for s in image_shape)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype
        self.prompts = list(prompts) if prompts is not None else None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, image_shape={self.image_shape}, "
                f"T={self.num_train_timesteps}, device={self.device}, dtype={self.dtype})")

    @property
    def num_train_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    # -- what subclasses implement ------------------------------------------------------------
    def _encode(self, prompt: str):
        raise NotImplementedError

    def _predict(self, x_t: torch.Tensor, t: int, cond):
        raise NotImplementedError

    # -- the interface ------------------------------------------------------------------------
    def encode_prompt(self, prompt: str):
        """The conditioning of ``prompt`` (ValueError listing the known prompts for an unknown one)."""
        return self._encode(check_prompt(prompt, self.prompts))

    def predict(self, x_t: torch.Tensor, t, cond):
        """(ε̂, v or None) for x_t (B, C, H, W) at integer timestep t; both in x_t's dtype and device."""
        t = check_noisy_input(x_t, t, self.image_shape, self.num_train_timesteps)
        with torch.no_grad():
            eps, v = self._predict(x_t.to(self.device, self.dtype), t, cond)
        return eps.to(x_t.device, x_t.dtype), (None if v is None else v.to(x_t.device, x_t.dtype))

    def estimator(self, prompt: str) -> Callable:
        """est(x_t, t) -> (ε̂, v or None) for one prompt (encoded once, here)."""
        cond = self.encode_prompt(prompt)

        def est(x_t, t):
            return self.predict(x_t, t, cond)

        est.prompt = prompt
        return est

    def check_image(self, x: torch.Tensor, what: str = "image") -> None:
        """ValueError unless x is a batch of clean images this model can take (shape, value range)."""
        check_clean_image(x, self.image_shape, self.value_range, what)

    def load_image(self, image) -> torch.Tensor:
        """A picture (path or PIL image) as a (1, C, H, W) float32 tensor in value_range: center-cropped
        to a square, resized to the model's size, converted to its channels (grey 'L' or 'RGB')."""
        from PIL import Image, UnidentifiedImageError
        import torchvision.transforms.functional as TF

        if not isinstance(image, Image.Image):
            if not isinstance(image, (str, Path)):
                raise ValueError(f"image must be a path or a PIL image, got {type(image).__name__}")
            path = Path(image)
            if not path.is_file():
                raise ValueError(f"no image file at {path}")
            try:
                with Image.open(path) as im:
                    im.load()
                    image = im.copy()
            except (UnidentifiedImageError, OSError, ValueError) as err:
                raise ValueError(f"{path} is not a readable image file (PNG, JPEG, …): {err}") from None
        if min(image.size) < 1:
            raise ValueError(f"the picture is empty ({image.size[0]}×{image.size[1]} pixels)")
        image = image.convert("L" if self.image_shape[0] == 1 else "RGB")
        side = min(image.size)
        image = TF.center_crop(image, [side, side]).resize((self.image_shape[2], self.image_shape[1]),
                                                           Image.BICUBIC)
        x = TF.to_tensor(image)[None]  # [0, 1]
        lo, hi = self.value_range
        return (x * (hi - lo) + lo).clamp(lo, hi)
