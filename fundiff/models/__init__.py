"""Pretrained noise predictors for Part A: one interface, one file per model, a registry of names.

    >>> from fundiff.models import load_pretrained
    >>> model = load_pretrained("bundled")              # or "deepfloyd", "gaussian"
    >>> eps, v = model.estimator("3")(x_t, 500)

The files of this package:

    base.py       the interface every model has (:class:`PretrainedModel`: ``.alphas_cumprod``,
                  ``.image_shape``, ``.estimator(prompt)``, ``.predict``, ``.load_image``, …) and its
                  input checks (:func:`check_noisy_input`, :func:`check_prompt`, :func:`check_clean_image`)
    gaussian.py   "gaussian": :class:`GaussianModel`, the exact noise predictor of Gaussian data
                  x₀ ~ N(μ_prompt, s²I): no weights, instant, used by the graded tests
    mnist.py      "bundled": the MNIST model the package ships (1×28×28, prompts "0".."9",
                  "zero".."nine"; ``data/bundled/``): :func:`load_bundled`
    emoji.py      "emoji": the text-conditioned colour model the package ships (3×32×32, any prompt;
                  IF-shaped: UNet2DConditionModel, learned variance; ``data/emoji/``): :func:`load_emoji`
    deepfloyd.py  "deepfloyd": DeepFloyd IF stage 1 (64×64 RGB, T5 prompts, learned variance) through
                  diffusers, optional stage 2 to 256×256 (:func:`load_deepfloyd`; GPU + weights), and
                  the tiny IF-shaped stand-ins of the offline tests (:func:`save_tiny_if`, …)

Adding a model: write ``fundiff/models/<name>.py`` (a :class:`PretrainedModel` subclass and a loader
``load_<name>(device=None, **kw)``; see base.py), import its loader below and add one line to
:data:`REGISTRY`.
"""
from __future__ import annotations

from typing import Callable

from .base import PretrainedModel, check_clean_image, check_noisy_input, check_prompt, default_device
from .deepfloyd import (IF_STAGE1, IF_STAGE2, DeepFloydIF, load_deepfloyd, load_prompt_embeds, save_tiny_if,
                        save_tiny_if_stage2, tiny_if_parts, tiny_if_unet)
from .emoji import EmojiModel, load_emoji
from .gaussian import GaussianModel
from .mnist import BundledModel, load_bundled

__all__ = ["PretrainedModel", "GaussianModel", "BundledModel", "EmojiModel", "load_emoji", "DeepFloydIF", "REGISTRY", "load_pretrained",
           "load_bundled", "load_deepfloyd", "load_prompt_embeds", "check_noisy_input", "check_prompt",
           "check_clean_image", "default_device", "tiny_if_parts", "save_tiny_if", "save_tiny_if_stage2",
           "tiny_if_unet", "IF_STAGE1", "IF_STAGE2"]

#: name → loader(device=None, **kw) returning a :class:`PretrainedModel`; one line per model (a new
#: one, e.g. ``"emoji": load_emoji`` from ``emoji.py``: import its loader above, add its line here).
REGISTRY: dict[str, Callable[..., PretrainedModel]] = {
    "emoji": load_emoji,          # emoji.py: the text-conditioned colour model (offline Part A default)
    "bundled": load_bundled,      # mnist.py
    "deepfloyd": load_deepfloyd,  # deepfloyd.py: see load_deepfloyd for its keywords
    "gaussian": GaussianModel,    # gaussian.py
}


def load_pretrained(name: str = "bundled", device=None, **kw) -> PretrainedModel:
    """The pretrained noise predictor ``name`` (a key of :data:`REGISTRY`: "bundled" (MNIST,
    offline), "deepfloyd" (IF, GPU + hub) or "gaussian"), on ``device`` (None: the model's default),
    built with the keywords ``kw`` of its loader."""
    loader = REGISTRY.get(name) if isinstance(name, str) else None
    if loader is None:
        names = [repr(n) for n in REGISTRY]
        expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ValueError(f"unknown pretrained model {name!r}: expected {expected}")
    return loader(device=device, **kw)
