"""The emoji model, behind the Part A interface: ``load_pretrained("emoji")``.

A small text-conditioned colour diffusion model in DeepFloyd IF's mould, trained and shipped by the
package (``python -m fundiff.emoji.train``; what it learned: :mod:`fundiff.emoji.concepts`):

    images        3×32×32 RGB in [−1, 1] (IF stage 1: 3×64×64)
    prompts       any text (with the optional sentence encoder) or the shipped table's prompts;
                  conditioning = the prompt's sentence embedding (1, 1, 384) (IF: T5, (1, 77, 4096))
    network       a diffusers ``UNet2DConditionModel`` called as IF's is, ``encoder_hidden_states`` = the
                  embedding; 6 output channels = ε̂ and the learned-range variance v (as IF)
    schedule      IF's: DDPM ``squaredcos_cap_v2``, 1000 steps, ``learned_range`` (course timesteps 990 … 0)

Stored in diffusers format under ``data/emoji/``: ``unet/``, ``scheduler/``, ``training.json``, the
prompt table ``prompt_embeds.safetensors`` and the pictures it learned (``emoji_32_subset.npz``).
Pictures: Noto Emoji (Google, Apache 2.0) and Twemoji (Twitter, Inc. and contributors, CC BY 4.0).
The shipped weights (18,111 steps, 377 min on 2 shared CPU cores, then a 2,955-step fine-tune that
taught it ten shapes for anagrams) draw the asked emoji in 98 % of CFG samples; four anagram pairs
(to the eye two, and pizza ↔ fire in about 40 % of its samples) and six hybrid pairs (to the eye three)
read both ways to its classifiers (``data/emoji/README.md``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..emoji.concepts import EMOJI_DIR
from ..emoji.text import EMBED_DIM, encoder_available, load_table, prompt_embedding
from .base import PretrainedModel, default_device

__all__ = ["EmojiModel", "load_emoji", "EMOJI_DIR"]

CREDIT = ("Emoji pictures: Noto Emoji by Google (Apache License 2.0) and Twemoji by Twitter, Inc. and other "
          "contributors (CC BY 4.0), via the emoji-datasource npm packages (MIT).")


class EmojiModel(PretrainedModel):
    """The emoji model (see the module docstring).  ``encode_prompt(text)`` → (1, 1, 384) float32;
    ``predict`` returns (ε̂, v) with v IF's learned-range variance channels, so §1.4's learned
    variance runs on it as on IF."""

    def __init__(self, unet, scheduler, table: dict, device=None, dtype=torch.float32, name="emoji"):
        cfg = unet.config
        if cfg.out_channels != 2 * cfg.in_channels or cfg.cross_attention_dim != EMBED_DIM:
            raise ValueError(f"the emoji UNet must have out_channels = 2 × in_channels (ε and v) and "
                             f"cross_attention_dim = {EMBED_DIM}, got {cfg.out_channels}, {cfg.cross_attention_dim}")
        self.unet, self.scheduler, self.table = unet, scheduler, table
        super().__init__(name, scheduler.alphas_cumprod, (cfg.in_channels, cfg.sample_size, cfg.sample_size),
                         device=device, dtype=dtype, prompts=None if encoder_available() else list(table))

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """(1, 1, 384) embedding of ``prompt``; ValueError naming the nearest known prompts when it is
        not in the shipped table and the sentence encoder is not installed."""
        return prompt_embedding(prompt, self.table)

    def _predict(self, x_t, t, cond):
        if not isinstance(cond, torch.Tensor) or cond.ndim != 3 or cond.shape[-1] != EMBED_DIM:
            raise ValueError(f"the emoji model's conditioning is a (1 or B, L, {EMBED_DIM}) prompt embedding "
                             f"(model.encode_prompt), got {getattr(cond, 'shape', type(cond).__name__)}")
        cond = cond.to(x_t.device, x_t.dtype).expand(x_t.shape[0], *cond.shape[1:])
        out = self.unet(x_t, t, encoder_hidden_states=cond, return_dict=False)[0]
        c = self.image_shape[0]
        return out[:, :c].contiguous(), out[:, c:].contiguous()


def load_emoji(device=None, path: str | Path = EMOJI_DIR, dtype: torch.dtype = torch.float32) -> EmojiModel:
    """The shipped emoji model from ``path`` (``unet/`` + ``scheduler/`` loaded with diffusers'
    ``from_pretrained``, like IF; the prompt table ``prompt_embeds.safetensors``).  device: None →
    CUDA when available, else the CPU."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    path = Path(path)
    for part in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json",
                 "prompt_embeds.safetensors"):
        if not (path / part).is_file():
            raise FileNotFoundError(f"the emoji model is incomplete: {path / part} is missing (expected unet/, "
                                    "scheduler/ and prompt_embeds.safetensors; train it with "
                                    "python -m fundiff.emoji.train)")
    device = default_device(device)
    try:
        unet = UNet2DConditionModel.from_pretrained(path / "unet")
        scheduler = DDPMScheduler.from_pretrained(path / "scheduler")
    except (OSError, ValueError, EnvironmentError) as err:
        raise ValueError(f"{path} does not hold a readable emoji model in diffusers format ({err})") from err
    unet = unet.to(device, dtype).eval()
    return EmojiModel(unet, scheduler, load_table(path / "prompt_embeds.safetensors"), device=device, dtype=dtype)
