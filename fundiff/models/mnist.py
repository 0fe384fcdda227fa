"""The MNIST model the package ships, behind the Part A interface: ``load_pretrained("bundled")``.

Part A of the course needs a pretrained diffusion model.  DeepFloyd IF needs a GPU and the Hugging
Face hub; this one, a small class-conditional diffusion model of MNIST digits, runs offline on a
laptop CPU in seconds.  It is stored in diffusers format under ``data/bundled/``::

    unet/config.json + unet/diffusion_pytorch_model.safetensors    a UNet2DModel (ε-prediction)
    scheduler/scheduler_config.json                                 a DDPMScheduler (1000 steps)
    training.json                                                   seed, config, data, steps, loss

The model predicts ε from x_t ∈ [-1, 1]^(1×28×28), an integer timestep t ∈ {0..999} and a class
label c ∈ {0..10}; class 10 is the null prompt "" (trained with 10 % label dropout), so classifier-
free guidance works.  The schedule is IF's (``squaredcos_cap_v2``, 1000 steps), so the course's
timesteps 990, 960, …, 0 apply unchanged.

Here: its architecture (:data:`UNET_CONFIG`, :data:`SCHEDULER_CONFIG`), its prompts, the model class
(:class:`BundledModel`), its loader (:func:`load_bundled`) and diffusers' own sampling loop on it
(:func:`diffusers_cfg_sample`, the oracle of the Part A loop).  Elsewhere: training it
(``fundiff/train_bundled.py``), its test images (``fundiff/data/images.py``), the quality of its
samples (``fundiff.metrics.parta_quality``), its sampling speed (``fundiff.bench.parta_vs_diffusers``);
the commands are ``python -m fundiff.bundled train|images|quality|bench|examples``.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import torch

from ..data import DATA_DIR
from ..data.images import load_image
from .base import PretrainedModel, check_prompt, default_device

__all__ = ["BundledModel", "load_bundled", "prompt_class", "build_unet", "build_scheduler", "training_alphas_cumprod",
           "diffusers_cfg_sample", "BUNDLED_DIR", "NULL_CLASS", "DIGIT_WORDS", "PROMPT_CLASSES", "UNET_CONFIG",
           "SCHEDULER_CONFIG", "NUM_TRAIN_TIMESTEPS"]

#: Where the shipped model lives.
BUNDLED_DIR = DATA_DIR / "bundled"

NUM_TRAIN_TIMESTEPS = 1000
NULL_CLASS = 10
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Every prompt the bundled model understands, mapped to its class label (10 = the null prompt "").
PROMPT_CLASSES = {**{str(d): d for d in range(10)}, **{w: d for d, w in enumerate(DIGIT_WORDS)}, "": NULL_CLASS}

#: The UNet2DModel configuration the shipped weights were trained with.
UNET_CONFIG = dict(
    sample_size=28,
    in_channels=1,
    out_channels=1,
    block_out_channels=(16, 32, 64),
    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
    layers_per_block=1,
    norm_num_groups=8,
    num_class_embeds=NULL_CLASS + 1,
    add_attention=False,
)
#: The DDPMScheduler configuration (IF's schedule; a model without learned variance).
SCHEDULER_CONFIG = dict(
    num_train_timesteps=NUM_TRAIN_TIMESTEPS,
    beta_schedule="squaredcos_cap_v2",
    variance_type="fixed_small",
    clip_sample=False,
    prediction_type="epsilon",
)


def build_unet(config: dict | None = None):
    """A fresh diffusers ``UNet2DModel`` with :data:`UNET_CONFIG` (updated by ``config``)."""
    from diffusers import UNet2DModel

    return UNet2DModel(**{**UNET_CONFIG, **(config or {})})


def build_scheduler():
    """The diffusers ``DDPMScheduler`` of the bundled model."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_CONFIG)


def training_alphas_cumprod() -> torch.Tensor:
    """ᾱ_t (1000,) float32 of the bundled model's schedule (squaredcos_cap_v2)."""
    return build_scheduler().alphas_cumprod.to(torch.float32)


# ----------------------------------------------------------------------------------------------
# The model behind the Part A interface
# ----------------------------------------------------------------------------------------------
def prompt_class(prompt: str) -> int:
    """The class label of a prompt: "0".."9" and "zero".."nine" → 0..9, "" → 10 (the null class).
    Any other text → ValueError listing the prompts this model understands."""
    return PROMPT_CLASSES[check_prompt(prompt, list(PROMPT_CLASSES))]


class BundledModel(PretrainedModel):
    """The bundled MNIST model behind the pretrained-model interface of :mod:`fundiff.models`:
    images 1×28×28 in [-1, 1]; prompts "0".."9", "zero".."nine" and "" (null); conditioning is
    the class label (an int); ``predict`` returns (ε̂, None): no learned variance, so the Part A
    loop uses the fixed posterior variance."""

    def __init__(self, unet, scheduler, device=None, dtype=torch.float32, name="bundled"):
        cfg = unet.config
        if cfg.num_class_embeds != NULL_CLASS + 1:
            raise ValueError(f"the bundled UNet must have num_class_embeds = {NULL_CLASS + 1} (digits + "
                             f"null), got {cfg.num_class_embeds}")
        self.unet, self.scheduler = unet, scheduler
        super().__init__(name, scheduler.alphas_cumprod, (cfg.in_channels, cfg.sample_size, cfg.sample_size),
                         device=device, dtype=dtype, prompts=list(PROMPT_CLASSES))

    def _encode(self, prompt: str) -> int:
        return PROMPT_CLASSES[prompt]

    def _predict(self, x_t, t, cond):
        if isinstance(cond, torch.Tensor) and cond.ndim == 1:  # one class label per image
            if cond.shape[0] != x_t.shape[0] or cond.dtype != torch.long:
                raise ValueError(f"per-image conditioning must be a (B,) = ({x_t.shape[0]},) int64 tensor of "
                                 f"class labels, got {cond.dtype} {tuple(cond.shape)}")
            if cond.numel() and (int(cond.min()) < 0 or int(cond.max()) > NULL_CLASS):
                raise ValueError(f"class labels must lie in [0, {NULL_CLASS}] (digits 0-9, {NULL_CLASS} = the null "
                                 f"prompt), got values in [{int(cond.min())}, {int(cond.max())}]")
            labels = cond.to(x_t.device)
        else:
            if isinstance(cond, torch.Tensor) and cond.ndim == 0 and not cond.is_floating_point():
                cond = cond.item()
            if isinstance(cond, bool) or not isinstance(cond, numbers.Integral) or not 0 <= cond <= NULL_CLASS:
                raise ValueError(f"the bundled model's conditioning is a class label in [0, {NULL_CLASS}] "
                                 f"(model.encode_prompt('3')) or a (B,) int64 tensor of them, got {cond!r:.60}")
            labels = torch.full((x_t.shape[0],), int(cond), dtype=torch.long, device=x_t.device)
        eps = self.unet(x_t.contiguous(memory_format=torch.channels_last), t, class_labels=labels,
                        return_dict=False)[0]
        return eps.contiguous(), None

    def load_image(self, image) -> torch.Tensor:
        """A picture (path or PIL image) as (1, 1, 28, 28) in [-1, 1]: the package's 28×28 PNGs are
        read as they are (:func:`fundiff.data.images.load_image`), any other picture is center-cropped,
        resized and made grey (dark background expected, as in MNIST)."""
        if isinstance(image, (str, Path)) and Path(image).is_file():
            try:
                return load_image(image)
            except ValueError:
                pass
        return super().load_image(image)


def load_bundled(device=None, path: str | Path = BUNDLED_DIR, dtype: torch.dtype = torch.float32):
    """The bundled MNIST model from ``path`` (``unet/`` + ``scheduler/`` in diffusers format, loaded
    with ``from_pretrained`` like DeepFloyd IF), behind the interface of :mod:`fundiff.models`.
    device: None → CUDA when available, else the CPU."""
    from diffusers import DDPMScheduler, UNet2DModel

    path = Path(path)
    for part in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"):
        if not (path / part).is_file():
            raise FileNotFoundError(
                f"the bundled model is incomplete: {path / part} is missing (expected {path}/unet/config.json, "
                f"unet/diffusion_pytorch_model.safetensors and scheduler/scheduler_config.json; train it "
                f"with: python -m fundiff.bundled train --out {path})")
    for part, cls in (("unet/config.json", "UNet2DModel"), ("scheduler/scheduler_config.json", "DDPMScheduler")):
        check_config_file(path / part, cls)
    device = default_device(device)
    try:
        from safetensors import safe_open

        with safe_open(str(path / "unet/diffusion_pytorch_model.safetensors"), framework="pt"):
            pass
        unet = UNet2DModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, use_safetensors=True)
        scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
    except Exception as err:  # noqa: BLE001 - diffusers/safetensors raise many kinds; reported with the files
        raise ValueError(f"{path} does not hold a readable bundled model: {path / 'unet'} must hold a UNet2DModel "
                         f"(config.json + diffusion_pytorch_model.safetensors, as save_pretrained writes them) and "
                         f"{path / 'scheduler'} a DDPMScheduler ({type(err).__name__}: {str(err)[:300]})") from err
    if unet.config.num_class_embeds != NULL_CLASS + 1 or unet.config.in_channels != UNET_CONFIG["in_channels"]:
        raise ValueError(f"{path / 'unet/config.json'} is not the bundled model's configuration: expected "
                         f"in_channels {UNET_CONFIG['in_channels']} and num_class_embeds {NULL_CLASS + 1}, got "
                         f"{unet.config.in_channels} and {unet.config.num_class_embeds}")
    unet = unet.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    return BundledModel(unet, scheduler, device=device, dtype=dtype)


def check_config_file(path: Path, class_name: str) -> dict:
    """The JSON config at ``path``; ValueError naming the file unless it is a JSON object whose
    ``_class_name`` (when present) is ``class_name``."""
    import json

    try:
        config = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable JSON config ({err}): expected the {class_name} configuration "
                         "that diffusers' save_pretrained writes") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object (the {class_name} configuration), got {type(config).__name__}")
    if config.get("_class_name", class_name) != class_name:
        raise ValueError(f"{path} is the configuration of a {config['_class_name']}, expected a {class_name}")
    return config


# ----------------------------------------------------------------------------------------------
# Its own diffusers sampler (the oracle and the speed baseline of the Part A loop)
# ----------------------------------------------------------------------------------------------
def diffusers_cfg_sample(unet, scheduler_config, label: int, n: int, guidance_scale: float,
                         generator: torch.Generator, timesteps) -> torch.Tensor:
    """The same sampling with diffusers' own ``DDPMScheduler.step`` loop (cond + null in one batch of
    2n): the oracle and the speed baseline for ours.  Noise is drawn from the same CPU generator in
    the same order as the Part A loop, so both give the same digits."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(scheduler_config)
    sched.set_timesteps(timesteps=list(timesteps))
    x = torch.randn((n, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size), generator=generator)
    labels = torch.cat([torch.full((n,), label), torch.full((n,), NULL_CLASS)])
    with torch.no_grad():
        for t in sched.timesteps:
            out = unet(torch.cat([x, x]).contiguous(memory_format=torch.channels_last), t, class_labels=labels).sample
            eps_c, eps_u = out.chunk(2)
            eps = eps_u + guidance_scale * (eps_c - eps_u)
            x = sched.step(eps, t, x, generator=generator).prev_sample
    return x
