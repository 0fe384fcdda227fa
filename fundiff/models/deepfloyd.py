"""DeepFloyd IF behind the Part A interface: ``load_pretrained("deepfloyd")``, its real configs, and
offline stand-ins built from them.

The course's model (the fa24 notebook): stage 1 ``DeepFloyd/IF-I-L-v1.0`` (64×64 RGB, T5 prompt
embeddings, learned variance; ``IF-I-XL-v1.0`` as an option), stage 2 ``DeepFloyd/IF-II-L-v1.0``
upsampling to 256×256, both in fp16 with ``text_encoder=None`` and the prompts given as the course's
precomputed embeddings (:func:`load_deepfloyd`, :class:`DeepFloydIF`).  It needs a GPU and the
weights from the Hugging Face hub.

The real configs (:data:`IF_I_XL_UNET_CONFIG`, :data:`IF_II_L_UNET_CONFIG`, the three scheduler
configs) are written down below with where they were read.  The offline stand-ins are those configs
scaled down (:func:`scaled_down`: widths, depths, heads and image size shrink; every option that
selects a code path stays: ``addition_embed_type="text"``, ``encoder_hid_dim=4096`` with
``text_proj``, SimpleCrossAttn blocks, ``scale_shift`` ResNets, and for stage 2 the 6 input channels,
``class_embed_type="timestep"``, the skip-time-act and output scale factors), with the real
scheduler configs unchanged (thresholding on).  :func:`save_tiny_if` / :func:`save_tiny_if_stage2`
write them with ``save_pretrained``; ``load_pretrained("deepfloyd", path=folder,
prompt_embeds=folder / "prompt_embeds.pth", stage2=folder2)`` loads them through the user's code.

Which of the course's choices fundiff follows (README, "DeepFloyd IF on a GPU"):
- the schedule (ᾱ of DDPM ``squaredcos_cap_v2``, 1000 steps) and the learned variance are read from
  the model's scheduler config as it is;
- the course's own loop does not threshold and neither does fundiff's; ``IFPipeline`` (and §0's
  "the model's own sampler") uses the scheduler's dynamic thresholding (ratio 0.95, s ≤ 1.5);
- fundiff's loop takes one more step than the notebook's, from t = 0 to the clean image (t′ = −1,
  ᾱ = 1, no noise), as ``IFPipeline`` does; the notebook's ``for i in range(i_start, len(timesteps) - 1)``
  stops at x₀ = x at t = 0 (the A1.4 grading message says so when it sees it);
- stage 2 as the notebook calls it: 20 steps in Part 0, 30 elsewhere (:data:`UPSAMPLE_STEPS`),
  ``noise_level`` 250 and guidance 4 (the pipeline's defaults, which the notebook keeps).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import PretrainedModel, default_device

__all__ = ["DeepFloydIF", "load_deepfloyd", "load_prompt_embeds", "tiny_if_unet", "tiny_if_parts", "save_tiny_if",
           "save_tiny_if_stage2", "scaled_down", "IF_STAGE1", "IF_STAGE1_XL", "IF_STAGE2", "IF_I_XL_UNET_CONFIG",
           "IF_II_L_UNET_CONFIG", "IF_STAGE1_SCHEDULER_CONFIG", "IF_STAGE2_SCHEDULER_CONFIG",
           "IF_IMAGE_NOISING_SCHEDULER_CONFIG", "UPSAMPLE_STEPS", "UPSAMPLE_STEPS_PART0", "UPSAMPLE_NOISE_LEVEL",
           "UPSAMPLE_GUIDANCE", "TINY_PROMPTS", "TINY_TEXT_WIDTH", "if_pipeline"]

IF_STAGE1 = "DeepFloyd/IF-I-L-v1.0"      # the course's stage 1 (fa24 notebook)
IF_STAGE1_XL = "DeepFloyd/IF-I-XL-v1.0"  # the larger stage 1, an option (path=IF_STAGE1_XL)
IF_STAGE2 = "DeepFloyd/IF-II-L-v1.0"     # the course's stage 2 (64 → 256 px)

#: stage 2 as the fa24 notebook runs it: 30 steps (20 in Part 0), and the pipeline's defaults that the
#: notebook keeps: noise_level 250 (the upsampled image is noised to t = 250 and the UNet told so),
#: guidance 4 against the empty prompt.
UPSAMPLE_STEPS = 30
UPSAMPLE_STEPS_PART0 = 20
UPSAMPLE_NOISE_LEVEL = 250
UPSAMPLE_GUIDANCE = 4.0
#: |values| beyond this are refused by :meth:`DeepFloydIF.upsample` (not an image in [-1, 1], e.g. [0, 255])
UPSAMPLE_REFUSE = 10.0

# --------------------------------------------------------------------------------------------
# The real configs (no hub access when they were written down: read from public copies)
# --------------------------------------------------------------------------------------------

#: IF-I-XL's UNet (``DeepFloyd/IF-I-XL-v1.0/unet/config.json``), read from the public copy of that
#: file in huggingface.co/lucostiguy11/dreambooth_if (unet/config.json, ``"_name_or_path":
#: "DeepFloyd/IF-I-XL-v1.0"``, a DreamBooth fine-tune that keeps the architecture) and cross-checked
#: against IF-I-XL's original config.yml (huggingface.co/ckpt/IF-I-XL-v1.0-16bit: model_channels
#: 704, channel_mult "1,2,3,4", num_res_blocks 3, attention_resolutions "32,16,8",
#: num_head_channels 64, use_scale_shift_norm, resblock_updown, encoder_dim 4096, encoder_channels
#: 2816, att_pool_heads 64) through diffusers' scripts/convert_if.py (create_unet_diffusers_config),
#: which also gives the keys the excerpt cut off (up_block_types, upcast_attention,
#: use_linear_projection).  IF-I-L's own config.json was not found in any public copy that could be
#: read; it comes from the same converter and config.yml keys, so it has the same code paths (block
#: types, text pooling, text_proj, scale_shift) at other widths.
IF_I_XL_UNET_CONFIG = {
    "act_fn": "gelu",
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": None,
    "attention_head_dim": 64,
    "block_out_channels": [704, 1408, 2112, 2816],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2816,
    "cross_attention_norm": "group_norm",
    "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D",
                         "SimpleCrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": 4096,
    "encoder_hid_dim_type": "text_proj",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 3,
    "layers_per_block": 3,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 6,
    "projection_class_embeddings_input_dim": None,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "scale_shift",
    "sample_size": 64,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": 1,
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                       "ResnetUpsampleBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": False,
}

#: IF-II-L's UNet (``DeepFloyd/IF-II-L-v1.0/unet/config.json``), read from the public copy in
#: huggingface.co/williamberman/dreambooth_me_upscale (unet/config.json, ``"_name_or_path":
#: "DeepFloyd/IF-II-L-v1.0"``); the keys the excerpt cut off follow diffusers' scripts/convert_if.py
#: (get_super_res_unet, superres_create_unet_diffusers_config): resnet_time_scale_shift
#: "scale_shift" (use_scale_shift_norm), time_embedding_dim = model_channels × channel_mult[-1] =
#: 1280, time_embedding_act_fn "gelu", up_block_types the mirror of down_block_types, sample_size
#: the image size 256.
IF_II_L_UNET_CONFIG = {
    "act_fn": "gelu",
    "addition_embed_type": "text",
    "addition_embed_type_num_heads": 64,
    "attention_head_dim": 64,
    "block_out_channels": [160, 320, 640, 960, 1280],
    "center_input_sample": False,
    "class_embed_type": "timestep",
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 1280,
    "cross_attention_norm": "group_norm",
    "down_block_types": ["ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D",
                         "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": 4096,
    "encoder_hid_dim_type": "text_proj",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 6,
    "layers_per_block": [2, 2, 3, 5, 5],
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1.4142271248762552,
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 6,
    "projection_class_embeddings_input_dim": None,
    "resnet_out_scale_factor": 1.4142271248762552,
    "resnet_skip_time_act": True,
    "resnet_time_scale_shift": "scale_shift",
    "sample_size": 256,
    "time_embedding_act_fn": "gelu",
    "time_embedding_dim": 1280,
    "time_embedding_type": "positional",
    "up_block_types": ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D",
                       "ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"],
    "upcast_attention": False,
    "use_linear_projection": False,
}

#: Stage 1's scheduler (``scheduler/scheduler_config.json``): read from the public copy of IF-I-XL's
#: in huggingface.co/ckpt/IF-I-XL-v1.0-16bit (scheduler/scheduler_config.json), the same as diffusers'
#: scripts/convert_if.py (convert_stage_1_pipeline: learned_range, squaredcos_cap_v2, epsilon,
#: thresholding=True, dynamic_thresholding_ratio=0.95, sample_max_value=1.5, the rest DDPMScheduler's
#: defaults: clip_sample=True), which writes every stage-1 pipeline (IF-I-L included) with it.
IF_STAGE1_SCHEDULER_CONFIG = {
    "beta_end": 0.02,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.95,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.5,
    "thresholding": True,
    "trained_betas": None,
    "variance_type": "learned_range",
}
#: Stage 2's scheduler: convert_if.py's convert_super_res_pipeline, as stage 1's but sample_max_value=1.0.
IF_STAGE2_SCHEDULER_CONFIG = {**IF_STAGE1_SCHEDULER_CONFIG, "sample_max_value": 1.0}
#: Stage 2's image_noising_scheduler (noises the upsampled image to noise_level): convert_if.py's
#: ``DDPMScheduler(beta_schedule="squaredcos_cap_v2")``.
IF_IMAGE_NOISING_SCHEDULER_CONFIG = {"beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 1000}


def load_prompt_embeds(path) -> dict[str, torch.Tensor]:
    """The course's prompt-embedding file: a dict {prompt: (1, 77, D) tensor} saved with torch.save
    (the course's: fp16, D = 4096, the empty prompt "" included).  Read with
    ``torch.load(weights_only=True)``: a file that would need to run pickled code is refused."""
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
        if not v.is_floating_point():
            raise ValueError(f"{path}: entry {k!r} must be a floating-point tensor, got {v.dtype}")
    return data


class DeepFloydIF(PretrainedModel):
    """DeepFloyd IF stage 1 as a noise predictor: ``unet(x_t, t, encoder_hidden_states=cond)`` has 6
    channels, ε̂ = [:, :3] and the learned variance v = [:, 3:] (DDPM ``learned_range``).

    Conditioning: a T5 embedding (1, 77, D), from ``prompt_embeds`` (a dict, e.g. the course's .pth)
    or computed by ``text_encoder``/``tokenizer`` (transformers' T5) when given.  Optional stage 2
    (``upsample``) through diffusers' IFSuperResolutionPipeline.  Build it with :func:`load_deepfloyd`.
    ``scheduler`` is the model's own, read as it is (thresholding on for the real IF); only its ᾱ is
    used by the course's loop, which does not threshold.
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
            if not isinstance(k, str) or not isinstance(v, torch.Tensor) or v.ndim != 3 or v.shape[0] != 1:
                raise ValueError(f"prompt embedding {k!r} must map a str to a (1, L, {self.embed_dim}) tensor, got "
                                 f"{tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}")
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
                 guidance_scale: float = UPSAMPLE_GUIDANCE, num_inference_steps: int = UPSAMPLE_STEPS,
                 noise_level: int = UPSAMPLE_NOISE_LEVEL) -> torch.Tensor:
        """Stage 2: (B, 3, 64, 64) stage-1 images → (B, 3, 256, 256) in [-1, 1] with the stage-2
        pipeline (needs ``stage2=`` at load time), conditioned on ``prompt``, CFG against the empty
        prompt; defaults as the course's notebook (30 steps; it uses 20 in Part 0:
        :data:`UPSAMPLE_STEPS_PART0`; noise_level 250, guidance 4).

        Note: ``x`` is clamped to [-1, 1] first.  The course's loop and fundiff's do not threshold,
        so samples with classifier-free guidance (γ = 7) can leave [-1, 1] a little; stage 2 was
        trained on images in [-1, 1] (IFPipeline's own stage-1 output is thresholded into it), and
        clamping is what showing the image does anyway.  The course passes its samples unclamped
        (diffusers' stage 2 takes any tensor), so far-out pixels can differ from the notebook's.
        Values beyond ±:data:`UPSAMPLE_REFUSE` are refused: that is not an image in [-1, 1]."""
        if self.stage2 is None:
            raise ValueError(f"no stage 2 loaded: load_pretrained('deepfloyd', stage2={IF_STAGE2!r})")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError("the stage-1 image must be a floating-point tensor (B, 3, H, W) in [-1, 1], got "
                             f"{type(x).__name__ if not isinstance(x, torch.Tensor) else x.dtype}")
        if not isinstance(num_inference_steps, int) or isinstance(num_inference_steps, bool) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive int, got {num_inference_steps!r}")
        if x.numel() and not torch.isfinite(x).all():
            raise ValueError("the stage-1 image has NaN or infinite values")
        if x.numel() and float(x.abs().max()) > UPSAMPLE_REFUSE:
            lo, hi = float(x.min()), float(x.max())
            raise ValueError(f"the stage-1 image values must lie in [-1, 1] (slightly outside is clamped), got "
                             f"[{lo:.3g}, {hi:.3g}]: for an image in [0, 1] pass x * 2 - 1")
        x = x.clamp(-1, 1)
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


def _check_source(src, what: str, needs: tuple[str, ...]) -> str:
    """A hub id ('owner/name') or a local folder holding ``needs``; a clear ValueError otherwise."""
    if isinstance(src, Path):
        src = str(src)
    if not isinstance(src, str) or not src:
        raise ValueError(f"{what} must be a hub id such as {IF_STAGE1!r} or a folder, got {src!r}")
    local = Path(src)
    if local.exists():
        if not local.is_dir():
            raise ValueError(f"{what} {src!r} is a file: expected a folder in the diffusers pipeline layout "
                             f"({', '.join(n + '/' for n in needs)}) or a hub id such as {IF_STAGE1!r}")
        missing = [n for n in needs if not (local / n).is_dir()]
        if missing:
            raise ValueError(f"{what} folder {src!r} has no {', '.join(m + '/' for m in missing)}: expected the "
                             "layout save_pretrained writes (unet/, scheduler/, …)")
        return src
    parts = src.split("/")
    if len(parts) != 2 or not all(parts) or src.startswith((".", "~")):
        raise ValueError(f"{what} {src!r} is neither an existing folder nor a hub id ('owner/name', e.g. "
                         f"{IF_STAGE1!r})")
    return src


def load_deepfloyd(path: str | Path = IF_STAGE1, device=None, prompt_embeds=None, stage2=None,
                   dtype: torch.dtype | None = None, text_encoder: str | Path | None = None,
                   **from_pretrained_kw) -> DeepFloydIF:
    """DeepFloyd IF stage 1 from the hub (``path`` = 'DeepFloyd/IF-I-L-v1.0', the course's, or
    'DeepFloyd/IF-I-XL-v1.0', after accepting the licence and ``huggingface-cli login``) or a local
    folder in the pipeline layout (``unet/``, ``scheduler/``; what ``save_pretrained`` writes).

    device: None → CUDA when available.  dtype: None → float16 on CUDA, float32 on the CPU (the fp16
    weight variant is used when the folder has it).  prompt_embeds: the course's .pth file (read with
    weights_only=True) or a dict {prompt: (1, 77, 4096)}; None → prompts are encoded with the T5
    encoder of ``text_encoder`` (default ``path``; subfolders text_encoder/ and tokenizer/) through
    transformers (≈ 9 GB in fp16).  stage2: None, or the stage-2 model ('DeepFloyd/IF-II-L-v1.0' or a
    folder) for ``model.upsample``.  The text encoder of the pipeline is never loaded with the UNet
    (``text_encoder=None``).  Weights are read from safetensors files only.  The scheduler config is
    read as it is (the real one thresholds; the course's loop uses only its ᾱ).
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    path = _check_source(path, "the DeepFloyd stage-1 path", ("unet", "scheduler"))
    if stage2 is not None:
        stage2 = _check_source(stage2, "stage2", ("unet", "scheduler", "image_noising_scheduler"))
    if prompt_embeds is not None and not isinstance(prompt_embeds, (dict, str, Path)):
        raise ValueError("prompt_embeds must be the course's .pth file (a path) or a dict {prompt: (1, 77, 4096) "
                         f"tensor}}, got {type(prompt_embeds).__name__}")
    if dtype is not None and dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"dtype must be torch.float16, torch.bfloat16 or torch.float32, got {dtype!r}")
    device = default_device(device)
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    if isinstance(prompt_embeds, (str, Path)):  # before the (large) weights: a bad file fails fast
        prompt_embeds = load_prompt_embeds(prompt_embeds)
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
# Offline stand-ins: the real configs scaled down
# --------------------------------------------------------------------------------------------

#: the prompts of the stand-ins' prompt_embeds.pth ("" is the unconditional one)
TINY_PROMPTS = ("", "a high quality photo", "an oil painting")
#: the stand-ins' T5 width (the real one is 4096: ``text_width=None``)
TINY_TEXT_WIDTH = 64


def scaled_down(config: dict, width: int = 8, sample_size: int = 16, head_dim: int = 8, groups: int = 4,
                pool_heads: int = 2, text_width: int | None = TINY_TEXT_WIDTH) -> dict:
    """A real IF UNet config made tiny: the widths become ``width`` × the real channel multipliers
    (XL: 1, 2, 3, 4; II-L: 1, 2, 4, 6, 8), one layer per block (a list stays a list), the
    cross-attention width = the top width (as in the real ones), attention heads of ``head_dim``,
    ``pool_heads`` text-pooling heads, ``groups`` norm groups, ``sample_size`` pixels, and prompt
    embeddings ``text_width`` wide (None: the real 4096; the pooling attends over the raw T5 embedding,
    3 × 4096² weights, too slow for tests; the text_proj path is the same at any width).  Every option
    that selects a code path is kept as it is (block types, addition_embed_type, encoder_hid_dim and
    its text_proj, class_embed_type, resnet_time_scale_shift, act_fn, cross_attention_norm, the
    stage-2 skip-time-act and scale factors, in/out channels)."""
    cfg = dict(config)
    base = config["block_out_channels"][0]
    mult = [c // base for c in config["block_out_channels"]]
    cfg["block_out_channels"] = [width * m for m in mult]
    lpb = config["layers_per_block"]
    cfg["layers_per_block"] = [1] * len(mult) if isinstance(lpb, (list, tuple)) else 1
    cfg["cross_attention_dim"] = cfg["block_out_channels"][-1]
    if config.get("time_embedding_dim") is not None:
        cfg["time_embedding_dim"] = cfg["block_out_channels"][-1]
    cfg.update(attention_head_dim=head_dim, addition_embed_type_num_heads=pool_heads, norm_num_groups=groups,
               sample_size=sample_size)
    if text_width is not None:
        cfg["encoder_hid_dim"] = text_width
    return cfg


def _unet_from_config(cfg: dict, seed: int):
    """UNet2DConditionModel(**cfg) initialised from ``seed`` without touching the caller's global RNG
    (diffusers initialises from the global generator)."""
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DConditionModel(**cfg).eval()


def tiny_if_unet(seed: int = 0, sample_size: int = 16, stage: int = 1, **scale):
    """The stand-in UNet of stage 1 (:data:`IF_I_XL_UNET_CONFIG` scaled down) or stage 2
    (:data:`IF_II_L_UNET_CONFIG` scaled down), randomly initialised from ``seed``."""
    real = {1: IF_I_XL_UNET_CONFIG, 2: IF_II_L_UNET_CONFIG}[stage]
    return _unet_from_config(scaled_down(real, sample_size=sample_size, **scale), seed)


def tiny_if_parts(seed: int = 0, sample_size: int = 16, seq_len: int = 77, embed_dtype=torch.float16,
                  text_width: int | None = TINY_TEXT_WIDTH):
    """A tiny stage 1 for offline tests: (unet, scheduler, prompt_embeds).

    The UNet is IF-I-XL's config scaled down (:func:`scaled_down`; 3 input channels, 6 output
    channels ε̂ and v, the text embedding (1, 77, D) projected by text_proj and pooled into the time
    embedding, SimpleCrossAttn blocks, scale_shift ResNets; D = ``text_width``, None: the real 4096),
    randomly initialised from ``seed``;
    the scheduler is the real stage-1 one (:data:`IF_STAGE1_SCHEDULER_CONFIG`: thresholding on).
    prompt_embeds: {p: (1, seq_len, D)} for p in :data:`TINY_PROMPTS`, drawn from ``seed`` and
    stored in ``embed_dtype`` (fp16, as the course's file).
    """
    from diffusers import DDPMScheduler

    unet = tiny_if_unet(seed, sample_size, stage=1, text_width=text_width)
    scheduler = DDPMScheduler(**IF_STAGE1_SCHEDULER_CONFIG)
    g = torch.Generator().manual_seed(seed + 1)
    width = unet.config.encoder_hid_dim
    embeds = {p: torch.randn(1, seq_len, width, generator=g).to(embed_dtype) for p in TINY_PROMPTS}
    return unet, scheduler, embeds


def save_tiny_if(path, seed: int = 0, **kw) -> dict[str, torch.Tensor]:
    """Write :func:`tiny_if_parts` as an IFPipeline folder (``save_pretrained``: unet/, scheduler/,
    model_index.json) plus ``prompt_embeds.pth`` written as the course's (torch.save of a dict of fp16
    (1, 77, D) tensors, "" included; the course's D is 4096); returns the prompt embeddings."""
    from diffusers import IFPipeline

    unet, scheduler, embeds = tiny_if_parts(seed, **kw)
    pipe = IFPipeline(tokenizer=None, text_encoder=None, unet=unet, scheduler=scheduler, safety_checker=None,
                      feature_extractor=None, watermarker=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    torch.save(embeds, Path(path) / "prompt_embeds.pth")
    return embeds


def save_tiny_if_stage2(path, seed: int = 0, sample_size: int = 64, text_width: int | None = TINY_TEXT_WIDTH) -> None:
    """Write a tiny stage 2 (IFSuperResolutionPipeline: IF-II-L's config scaled down, 6 input channels
    = the noisy image and the noised upsampled stage-1 image, ``class_embed_type="timestep"`` for the
    noise level, the real stage-2 scheduler and image-noising scheduler) to ``path`` with
    ``save_pretrained``: ``load_deepfloyd(stage2=path)`` upsamples to ``sample_size`` (64 = 4 × the
    16 px stand-in stage 1, as 64 → 256)."""
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline

    unet = tiny_if_unet(seed, sample_size, stage=2, text_width=text_width)
    IFSuperResolutionPipeline(tokenizer=None, text_encoder=None, unet=unet,
                              scheduler=DDPMScheduler(**IF_STAGE2_SCHEDULER_CONFIG),
                              image_noising_scheduler=DDPMScheduler(**IF_IMAGE_NOISING_SCHEDULER_CONFIG),
                              safety_checker=None, feature_extractor=None, watermarker=None,
                              requires_safety_checker=False).save_pretrained(path)


def if_pipeline(path, dtype: torch.dtype = torch.float32, as_configured: bool = False):
    """diffusers' IFPipeline of a stage-1 folder (no text encoder, safety checker or watermarker),
    the oracle of the course's loop.  By default its scheduler has ``thresholding`` and
    ``clip_sample`` switched off (the course's loop and fundiff's do neither; the real config has both
    on: dynamic thresholding of x̂₀ at the 0.95 quantile, s ≤ 1.5), so that the pipeline computes
    exactly the course's update; ``as_configured=True`` keeps the scheduler as the folder has it."""
    from diffusers import DDPMScheduler, IFPipeline

    pipe = IFPipeline.from_pretrained(path, text_encoder=None, tokenizer=None, safety_checker=None,
                                      feature_extractor=None, watermarker=None, requires_safety_checker=False,
                                      torch_dtype=dtype)
    if not as_configured:
        pipe.scheduler = DDPMScheduler.from_config(pipe.scheduler.config, thresholding=False, clip_sample=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
