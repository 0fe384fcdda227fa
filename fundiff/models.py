"""Pretrained noise predictors for Part A: one small interface, several models.

``load_pretrained(name, device=None, **kw)`` returns an object with (the interface every Part A
function relies on; see :class:`PretrainedModel`)::

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

Models:
    "deepfloyd"  DeepFloyd IF stage 1 (64×64 RGB, T5 prompts, learned variance) through diffusers,
                 with optional stage-2 upsampling to 256×256: :func:`load_deepfloyd`.
    "bundled"    the MNIST model the package ships (1×28×28, prompts "0".."9", "zero".."nine"):
                 ``fundiff.bundled.load_bundled``.
    "gaussian"   :class:`GaussianModel`, the exact noise predictor of Gaussian data x₀ ~ N(μ_prompt, s²I):
                 no weights, instant, used by the graded tests.

Offline stand-ins for IF (tests): :func:`tiny_if_parts` / :func:`save_tiny_if` write a tiny randomly
initialised IF-shaped stage 1 (6-channel UNet, learned_range scheduler, a prompt_embeds.pth) with
``save_pretrained``, :func:`save_tiny_if_stage2` a tiny stage 2; ``load_pretrained("deepfloyd",
path=folder, prompt_embeds=folder / "prompt_embeds.pth")`` loads them like the hub models.

Writing another model (e.g. the bundled one): subclass :class:`PretrainedModel`, set the attributes
in ``__init__`` (call ``super().__init__(...)``), and implement two methods:
``_encode(prompt) -> cond`` (called only with a checked prompt) and ``_predict(x_t, t, cond) ->
(eps, v or None)`` (called with x_t already checked and moved to ``.device``/``.dtype``, inside
``torch.no_grad()``).  The base class does the checks and the dtype/device round trip; its helpers
:func:`check_noisy_input`, :func:`check_prompt` and :func:`check_clean_image` are plain functions
that can be used on their own.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch

__all__ = ["PretrainedModel", "GaussianModel", "DeepFloydIF", "load_pretrained", "load_deepfloyd",
           "load_prompt_embeds", "check_noisy_input", "check_prompt", "check_clean_image",
           "default_device", "tiny_if_parts", "save_tiny_if", "save_tiny_if_stage2", "IF_STAGE1", "IF_STAGE2"]

IF_STAGE1 = "DeepFloyd/IF-I-XL-v1.0"
IF_STAGE2 = "DeepFloyd/IF-II-L-v1.0"


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
    if isinstance(t, torch.Tensor):
        if t.numel() != 1:
            raise ValueError(f"t must be one integer timestep (a python int), got a tensor of shape {tuple(t.shape)}")
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
        from PIL import Image
        import torchvision.transforms.functional as TF

        if not isinstance(image, Image.Image):
            path = Path(image)
            if not path.is_file():
                raise ValueError(f"no image file at {path}")
            image = Image.open(path)
        image = image.convert("L" if self.image_shape[0] == 1 else "RGB")
        side = min(image.size)
        image = TF.center_crop(image, [side, side]).resize((self.image_shape[2], self.image_shape[1]),
                                                           Image.BICUBIC)
        x = TF.to_tensor(image)[None]  # [0, 1]
        lo, hi = self.value_range
        return (x * (hi - lo) + lo).clamp(lo, hi)


# --------------------------------------------------------------------------------------------
# The exact noise predictor of Gaussian data (no weights; the graded tests use it)
# --------------------------------------------------------------------------------------------

def _gaussian_means(image_shape) -> dict[str, torch.Tensor]:
    """μ (C, H, W) for each prompt of :class:`GaussianModel`: simple patterns that are asymmetric
    under flips and rotations (so a wrong view shows)."""
    c, h, w = image_shape
    yy = torch.linspace(-1, 1, h)[:, None].expand(h, w)
    xx = torch.linspace(-1, 1, w)[None, :].expand(h, w)
    patterns = {
        "": torch.zeros(h, w),
        "top": torch.where(yy < 0, 0.6, -0.6),
        "left": torch.where(xx < 0, 0.6, -0.6),
        "corner": 0.8 * ((yy < 0) & (xx < 0)).float() - 0.2,
        "ring": torch.where((xx ** 2 + yy ** 2 - 0.5).abs() < 0.25, 0.7, -0.5),
        "stripes": 0.6 * torch.sign(torch.sin(3 * math.pi * xx + 1.0)),
    }
    tint = torch.linspace(1.0, 0.6, c)[:, None, None]  # channels differ a little
    return {k: (p[None] * tint).float() for k, p in patterns.items()}


class GaussianModel(PretrainedModel):
    """For data x₀ ~ N(μ_p, s²·I) (μ_p one pattern per prompt p), the exact noise predictor

        E[ε | x_t] = √(1 − ᾱ_t)·(x_t − √ᾱ_t·μ_p) / (ᾱ_t·s² + 1 − ᾱ_t),

    with IF's schedule by default (squaredcos_cap_v2, T = 1000).  Prompts: "", "top", "left",
    "corner", "ring", "stripes" (μ = 0 for ""); images (C, H, W) = ``image_shape``.  With
    ``learned_variance=True`` it also returns v = tanh(x_t − √ᾱ_t·μ_p) ∈ (−1, 1): a made-up but
    deterministic learned-variance signal, to exercise the learned-variance path.
    """

    def __init__(self, image_shape=(1, 8, 8), std: float = 0.5, alphas_cumprod=None,
                 learned_variance: bool = False, device=None):
        if alphas_cumprod is None:
            from diffusers import DDPMScheduler

            alphas_cumprod = DDPMScheduler(num_train_timesteps=1000,
                                           beta_schedule="squaredcos_cap_v2").alphas_cumprod
        self.means = _gaussian_means(tuple(image_shape))
        super().__init__("gaussian", alphas_cumprod, image_shape, device=device or "cpu",
                         dtype=torch.float32, prompts=list(self.means))
        self.std = float(std)
        self.learned_variance = learned_variance

    def _encode(self, prompt: str) -> torch.Tensor:
        return self.means[prompt].to(self.device)

    def _predict(self, x_t, t, cond):
        abar = self.alphas_cumprod[t].item()
        resid = x_t - math.sqrt(abar) * cond
        eps = math.sqrt(1 - abar) * resid / (abar * self.std ** 2 + 1 - abar)
        return eps, (torch.tanh(resid) if self.learned_variance else None)

    def posterior_x0(self, x_t: torch.Tensor, t: int, prompt: str) -> torch.Tensor:
        """E[x₀ | x_t] = μ + √ᾱ_t·s²·(x_t − √ᾱ_t·μ)/(ᾱ_t·s² + 1 − ᾱ_t) (the exact one-step denoiser)."""
        abar = self.alphas_cumprod[t].item()
        mu = self.means[prompt]
        return mu + math.sqrt(abar) * self.std ** 2 * (x_t - math.sqrt(abar) * mu) / (abar * self.std ** 2 + 1 - abar)


# --------------------------------------------------------------------------------------------
# DeepFloyd IF
# --------------------------------------------------------------------------------------------

def load_prompt_embeds(path) -> dict[str, torch.Tensor]:
    """The course's prompt-embedding file: a dict {prompt: (1, 77, D) tensor} saved with torch.save.
    Read with ``torch.load(weights_only=True)``: a file that would need to run pickled code is refused."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prompt-embedding file {path} not found (expected the course's .pth: a dict "
                         "{prompt: tensor of shape (1, 77, 4096)})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - reported with the file name
        raise ValueError(f"{path} is not a plain prompt-embedding dict (it was read with "
                         f"torch.load(weights_only=True), which refuses pickled code): {err}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path} must hold a non-empty dict {{prompt: (1, 77, D) tensor}}, got {type(data).__name__}")
    for k, v in data.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor) or v.ndim != 3 or v.shape[0] != 1:
            raise ValueError(f"{path}: entry {k!r} must map a str to a (1, L, D) tensor, got "
                             f"{tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}")
    return data


class DeepFloydIF(PretrainedModel):
    """DeepFloyd IF stage 1 as a noise predictor: ``unet(x_t, t, encoder_hidden_states=cond)`` has 6
    channels, ε̂ = [:, :3] and the learned variance v = [:, 3:] (DDPM ``learned_range``).

    Conditioning: a T5 embedding (1, 77, D), from ``prompt_embeds`` (a dict, e.g. the course's .pth)
    or computed by ``text_encoder``/``tokenizer`` (transformers' T5) when given.  Optional stage 2
    (``upsample``) through diffusers' IFSuperResolutionPipeline.  Build it with :func:`load_deepfloyd`.
    """

    def __init__(self, unet, scheduler, prompt_embeds=None, text_encoder=None, tokenizer=None,
                 device=None, dtype=torch.float32, stage2=None, name="deepfloyd"):
        if prompt_embeds is None and text_encoder is None:
            raise ValueError("DeepFloyd IF needs prompt embeddings: a .pth dict {prompt: (1, 77, 4096)} "
                             "(prompt_embeds=...) or the T5 text encoder")
        cfg = unet.config
        self.unet, self.scheduler = unet, scheduler
        self.embeds = dict(prompt_embeds) if prompt_embeds is not None else {}
        self.text_encoder, self.tokenizer = text_encoder, tokenizer
        self.embed_dim = cfg.encoder_hid_dim or cfg.cross_attention_dim
        for k, v in self.embeds.items():
            if v.shape[-1] != self.embed_dim:
                raise ValueError(f"prompt embedding {k!r} has width {v.shape[-1]}, the UNet expects {self.embed_dim}")
        prompts = None if text_encoder is not None else list(self.embeds)
        if prompts is not None and self.null_prompt not in prompts:
            raise ValueError("the prompt embeddings must include the empty prompt '' (the unconditional "
                             f"prompt of classifier-free guidance); they hold {prompts[:10]}")
        super().__init__(name, scheduler.alphas_cumprod, (cfg.in_channels, cfg.sample_size, cfg.sample_size),
                         device=device, dtype=dtype, prompts=prompts)
        self.stage2 = stage2

    def _encode(self, prompt: str) -> torch.Tensor:
        if prompt in self.embeds:
            return self.embeds[prompt].to(self.device, self.dtype)
        tok = self.tokenizer([prompt], padding="max_length", max_length=77, truncation=True,
                             add_special_tokens=True, return_tensors="pt")
        device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            out = self.text_encoder(tok.input_ids.to(device), attention_mask=tok.attention_mask.to(device))[0]
        self.embeds[prompt] = out.to("cpu")
        return out.to(self.device, self.dtype)

    def _predict(self, x_t, t, cond):
        c = self.image_shape[0]
        cond = cond.expand(x_t.shape[0], *cond.shape[1:])
        out = self.unet(x_t, t, encoder_hidden_states=cond, return_dict=False)[0]
        return out[:, :c], (out[:, c:] if out.shape[1] == 2 * c else None)

    def upsample(self, x: torch.Tensor, prompt: str, generator: torch.Generator,
                 guidance_scale: float = 4.0, num_inference_steps: int = 50, noise_level: int = 250) -> torch.Tensor:
        """Stage 2: (B, 3, 64, 64) in [-1, 1] → (B, 3, 256, 256) in [-1, 1] with the stage-2 pipeline
        (needs ``stage2=`` at load time), conditioned on ``prompt``, CFG against the empty prompt."""
        if self.stage2 is None:
            raise ValueError("no stage 2 loaded: load_pretrained('deepfloyd', stage2='DeepFloyd/IF-II-L-v1.0')")
        self.check_image(x, "the stage-1 image")
        cond, null = self.encode_prompt(prompt), self.encode_prompt(self.null_prompt)
        b = x.shape[0]
        out = self.stage2(image=x.to(self.device, self.dtype), prompt_embeds=cond.expand(b, *cond.shape[1:]),
                          negative_prompt_embeds=null.expand(b, *null.shape[1:]), generator=generator,
                          guidance_scale=guidance_scale, num_inference_steps=num_inference_steps,
                          noise_level=noise_level, output_type="pt").images
        return out.to(x.device, torch.float32).clamp(-1, 1)


def _from_pretrained(cls, path, subfolder, dtype, variant, **kw):
    """cls.from_pretrained, trying the fp16 ``variant`` first and the plain weights when it is absent;
    safetensors only (``use_safetensors=True``: never a pickled .bin)."""
    kw = {"use_safetensors": True, **kw}
    if variant:
        try:
            return cls.from_pretrained(path, subfolder=subfolder, torch_dtype=dtype, variant=variant, **kw)
        except (OSError, ValueError, EnvironmentError):
            pass
    return cls.from_pretrained(path, subfolder=subfolder, torch_dtype=dtype, **kw)


def load_deepfloyd(path: str | Path = IF_STAGE1, device=None, prompt_embeds=None, stage2=None,
                   dtype: torch.dtype | None = None, text_encoder: str | Path | None = None,
                   **from_pretrained_kw) -> DeepFloydIF:
    """DeepFloyd IF stage 1 from the hub (``path`` = 'DeepFloyd/IF-I-XL-v1.0' or '…-L-…', after
    accepting the license and ``huggingface-cli login``) or a local folder in the pipeline layout
    (``unet/``, ``scheduler/``; what ``save_pretrained`` writes).

    device: None → CUDA when available.  dtype: None → float16 on CUDA, float32 on the CPU (the fp16
    weight variant is used when the folder has it).  prompt_embeds: the course's .pth file (read with
    weights_only=True) or a dict {prompt: (1, 77, 4096)}; None → prompts are encoded with the T5
    encoder of ``text_encoder`` (default ``path``; subfolders text_encoder/ and tokenizer/) through
    transformers (≈ 9 GB in fp16).  stage2: None, or the stage-2 model ('DeepFloyd/IF-II-L-v1.0' or a
    folder) for ``model.upsample``.  The text encoder of the pipeline is never loaded with the UNet
    (``text_encoder=None``).  Weights are read from safetensors files only.
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    device = default_device(device)
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    variant = "fp16" if dtype == torch.float16 else None
    unet = _from_pretrained(UNet2DConditionModel, path, "unet", dtype, variant, **from_pretrained_kw)
    unet = unet.to(device).eval()
    scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler", **from_pretrained_kw)
    enc = tok = None
    if prompt_embeds is None:
        from transformers import AutoTokenizer, T5EncoderModel

        src = text_encoder or path
        tok = AutoTokenizer.from_pretrained(src, subfolder="tokenizer", **from_pretrained_kw)
        enc = _from_pretrained(T5EncoderModel, src, "text_encoder", dtype, variant, **from_pretrained_kw)
        enc = enc.to(device).eval()
    elif not isinstance(prompt_embeds, dict):
        prompt_embeds = load_prompt_embeds(prompt_embeds)
    sr = None
    if stage2 is not None:
        from diffusers import IFSuperResolutionPipeline

        kw = {"variant": variant} if variant and not Path(str(stage2)).is_dir() else {}
        sr = IFSuperResolutionPipeline.from_pretrained(
            stage2, text_encoder=None, tokenizer=None, safety_checker=None, feature_extractor=None,
            watermarker=None, requires_safety_checker=False, torch_dtype=dtype, use_safetensors=True, **kw,
            **from_pretrained_kw)
        sr = sr.to(device)
        sr.set_progress_bar_config(disable=True)
    return DeepFloydIF(unet, scheduler, prompt_embeds, enc, tok, device=device, dtype=dtype, stage2=sr,
                       name=f"deepfloyd ({Path(str(path)).name})")


def load_pretrained(name: str = "bundled", device=None, **kw) -> PretrainedModel:
    """A pretrained noise predictor by name: "bundled" (MNIST, offline), "deepfloyd" (IF, GPU +
    hub, see :func:`load_deepfloyd` for its keywords) or "gaussian" (:class:`GaussianModel`)."""
    if name == "bundled":
        from .bundled import load_bundled

        return load_bundled(device=device, **kw)
    if name == "deepfloyd":
        return load_deepfloyd(device=device, **kw)
    if name == "gaussian":
        return GaussianModel(device=device, **kw)
    raise ValueError(f"unknown pretrained model {name!r}: expected 'bundled', 'deepfloyd' or 'gaussian'")


def tiny_if_unet(seed: int, sample_size: int, embed_dim: int, in_channels: int, **extra):
    """A tiny UNet2DConditionModel with IF's layout in miniature (6 output channels: ε̂ and v,
    cross-attention on a text embedding projected like IF's), initialised from ``seed`` without
    touching the caller's global RNG (diffusers initialises from the global generator)."""
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DConditionModel(
            sample_size=sample_size, in_channels=in_channels, out_channels=6, layers_per_block=1,
            block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, cross_attention_dim=16,
            attention_head_dim=4, encoder_hid_dim=embed_dim, encoder_hid_dim_type="text_proj", **extra,
        ).eval()


def tiny_if_parts(seed: int = 0, sample_size: int = 16, embed_dim: int = 32, seq_len: int = 77):
    """A tiny IF-shaped stage 1 for offline tests: (unet, scheduler, prompt_embeds).

    The UNet is a randomly initialised (``seed``) UNet2DConditionModel with IF's layout in miniature:
    3 input channels, 6 output channels (ε̂ and v), cross-attention on a (1, seq_len, embed_dim)
    text embedding projected like IF's (``encoder_hid_dim_type='text_proj'``); the scheduler is IF's
    (DDPM, squaredcos_cap_v2, 1000 steps, learned_range) with thresholding and clipping off.
    prompt_embeds: {"": …, "a high quality photo": …, "an oil painting": …} drawn from ``seed``.
    """
    from diffusers import DDPMScheduler

    unet = tiny_if_unet(seed, sample_size, embed_dim, in_channels=3)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                              variance_type="learned_range", thresholding=False, clip_sample=False)
    g = torch.Generator().manual_seed(seed + 1)
    embeds = {p: torch.randn(1, seq_len, embed_dim, generator=g)
              for p in ("", "a high quality photo", "an oil painting")}
    return unet, scheduler, embeds


def save_tiny_if(path, seed: int = 0, **kw) -> dict[str, torch.Tensor]:
    """Write :func:`tiny_if_parts` as an IFPipeline folder (``save_pretrained``: unet/, scheduler/,
    model_index.json) plus ``prompt_embeds.pth``; returns the prompt embeddings."""
    from diffusers import IFPipeline

    unet, scheduler, embeds = tiny_if_parts(seed, **kw)
    pipe = IFPipeline(tokenizer=None, text_encoder=None, unet=unet, scheduler=scheduler, safety_checker=None,
                      feature_extractor=None, watermarker=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    torch.save(embeds, Path(path) / "prompt_embeds.pth")
    return embeds


def save_tiny_if_stage2(path, seed: int = 0, sample_size: int = 32, embed_dim: int = 32) -> None:
    """Write a tiny IF-shaped stage 2 (IFSuperResolutionPipeline: a 6-in / 6-out UNet conditioned on
    the noise level of the upsampled image, the learned_range scheduler and the image-noising one) to
    ``path`` with ``save_pretrained``: ``load_deepfloyd(stage2=path)`` upsamples to ``sample_size``."""
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline

    unet = tiny_if_unet(seed, sample_size, embed_dim, in_channels=6, class_embed_type="timestep")
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                              variance_type="learned_range", thresholding=False, clip_sample=False)
    noising = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    IFSuperResolutionPipeline(tokenizer=None, text_encoder=None, unet=unet, scheduler=scheduler,
                              image_noising_scheduler=noising, safety_checker=None, feature_extractor=None,
                              watermarker=None, requires_safety_checker=False).save_pretrained(path)
