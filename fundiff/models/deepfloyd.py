"""DeepFloyd IF behind the Part A interface: ``load_pretrained("deepfloyd")``, and tiny stand-ins.

The course's model: stage 1 (64×64 RGB, T5 prompt embeddings, learned variance) through diffusers,
with optional stage-2 upsampling to 256×256 (:func:`load_deepfloyd`, :class:`DeepFloydIF`); it
needs a GPU and the weights from the Hugging Face hub.

Offline stand-ins for the tests: :func:`tiny_if_parts` / :func:`save_tiny_if` write a tiny randomly
initialised IF-shaped stage 1 (6-channel UNet, learned_range scheduler, a prompt_embeds.pth) with
``save_pretrained``, :func:`save_tiny_if_stage2` a tiny stage 2; ``load_pretrained("deepfloyd",
path=folder, prompt_embeds=folder / "prompt_embeds.pth")`` loads them like the hub models.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import PretrainedModel, default_device

__all__ = ["DeepFloydIF", "load_deepfloyd", "load_prompt_embeds", "tiny_if_unet", "tiny_if_parts", "save_tiny_if",
           "save_tiny_if_stage2", "IF_STAGE1", "IF_STAGE2"]

IF_STAGE1 = "DeepFloyd/IF-I-XL-v1.0"
IF_STAGE2 = "DeepFloyd/IF-II-L-v1.0"


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


# --------------------------------------------------------------------------------------------
# Tiny IF-shaped stand-ins (offline tests)
# --------------------------------------------------------------------------------------------

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
