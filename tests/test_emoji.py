"""The emoji model (fundiff.models.emoji, fundiff.emoji): the shipped data and prompt table, the
loader, prompts and bad prompts, the model behind the Part A interface.

Ungraded tests of the package itself; training is in test_emoji_train.py, the quality metric and
its classifier in test_emoji_quality.py."""
from __future__ import annotations

import pytest
import torch

from fundiff.emoji import concepts, text
from fundiff.models import load_pretrained
from fundiff.models.emoji import EmojiModel

SHIPPED = (concepts.EMOJI_DIR / "unet" / "config.json").is_file()
needs_model = pytest.mark.skipif(not SHIPPED, reason="the emoji model is not trained yet (data/emoji/unet)")


# ----------------------------------------------------------------------------------------------
# The shipped data and prompt table
# ----------------------------------------------------------------------------------------------
def test_subset_covers_the_course_prompts_and_both_styles():
    d = concepts.load_subset()
    names = list(map(str, d["names"]))
    assert len(names) >= 100
    for prompt, name in concepts.COURSE_PROMPTS.items():
        assert name is None or name in names, f"{prompt!r} maps to {name!r}, which the subset lacks"
    assert set(d["styles"].tolist()) == {0, 1}
    assert d["images"].shape[1:] == (32, 32, 3) and d["images"].dtype.name == "uint8"
    assert int(d["labels"].max()) == len(names) - 1


def test_table_holds_every_prompt_the_demo_uses():
    from fundiff.emoji.quality import ANAGRAM_PAIRS, DEMO_PROMPTS, HYBRID_PAIRS

    table = text.load_table()
    used = {"", *DEMO_PROMPTS, *concepts.COURSE_PROMPTS, *(p for a in ANAGRAM_PAIRS for p in a[:2]),
            *(p for h in HYBRID_PAIRS for p in h[:2])}
    assert used <= set(table), f"missing from the table: {sorted(used - set(table))}"
    assert text.all_prompts() == list(table)


@pytest.mark.skipif(not text.encoder_available(), reason="the optional sentence encoder is not installed")
def test_table_equals_the_encoder():
    table = text.load_table()
    probe = ["", "a rocket ship", "dog face", "an oil painting of an old man"]
    fresh = text.encode_texts(probe)
    stored = torch.stack([table[p] for p in probe])
    assert (fresh - stored).abs().max() < 2e-3  # stored as fp16
    assert torch.allclose(fresh.norm(dim=1), torch.ones(4), atol=1e-5)
    # nearest neighbours make sense: the course's rocket is nearer "rocket" than "pencil"
    assert float(table["a rocket ship"] @ table["rocket"]) > float(table["a rocket ship"] @ table["pencil"]) + 0.3


def test_unknown_prompt_without_encoder_names_the_nearest(monkeypatch):
    monkeypatch.setattr(text, "encoder_available", lambda: False)
    with pytest.raises(ValueError, match="nearest are .*'a rocket ship'"):
        text.prompt_embedding("a rockett ship")
    assert text.prompt_embedding("a rocket ship").shape == (1, 1, 384)


@pytest.mark.parametrize("bad", [None, 3, b"rocket", ["rocket"]])
def test_prompt_must_be_text(bad):
    with pytest.raises(ValueError, match="must be a str"):
        text.prompt_embedding(bad)


def test_bad_table_file(tmp_path):
    p = tmp_path / "t.safetensors"
    p.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        text.load_table(p)
    with pytest.raises(ValueError, match=r"embeds must be \(2, 384\)"):
        text.save_table(["a", "b"], torch.zeros(3, 384), tmp_path / "u.safetensors")


# ----------------------------------------------------------------------------------------------
# The model behind the Part A interface
# ----------------------------------------------------------------------------------------------
@needs_model
def test_loader_gives_an_if_shaped_model(emoji_model):
    from diffusers import DDPMScheduler, UNet2DConditionModel

    assert isinstance(emoji_model, EmojiModel) and isinstance(emoji_model.unet, UNet2DConditionModel)
    assert emoji_model.image_shape == (3, 32, 32) and emoji_model.num_train_timesteps == 1000
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    assert torch.allclose(emoji_model.alphas_cumprod, ref.float())
    assert emoji_model.scheduler.config.variance_type == "learned_range"
    size = (concepts.EMOJI_DIR / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    assert size <= 30e6


@needs_model
def test_predict_returns_eps_and_learned_variance(emoji_model):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    c = emoji_model.encode_prompt("a rocket ship")
    eps, v = emoji_model.predict(x, 990, c)
    assert eps.shape == v.shape == x.shape and eps.dtype == torch.float32
    eps64, v64 = emoji_model.predict(x.double(), 990, c)
    assert eps64.dtype == torch.float64
    # the prompt matters
    eps2, _ = emoji_model.predict(x, 500, emoji_model.encode_prompt("a pencil"))
    eps1, _ = emoji_model.predict(x, 500, c)
    assert (eps1 - eps2).abs().mean() > 1e-3


@needs_model
@pytest.mark.parametrize("x, t, err", [
    (torch.zeros(1, 1, 28, 28), 10, "shape"), (torch.zeros(1, 3, 32, 32), 1000, r"\[0, 1000\)"),
    (torch.zeros(1, 3, 32, 32), -1, r"\[0, 1000\)"), (torch.zeros(1, 3, 32, 32, dtype=torch.int64), 5, "floating"),
])
def test_predict_refuses_bad_inputs(emoji_model, x, t, err):
    with pytest.raises(ValueError, match=err):
        emoji_model.predict(x, t, emoji_model.encode_prompt(""))


@needs_model
def test_bad_conditioning_is_refused(emoji_model):
    with pytest.raises(ValueError, match="prompt embedding"):
        emoji_model.predict(torch.zeros(1, 3, 32, 32), 5, torch.zeros(1, 77, 4096))


def test_loader_refuses_missing_and_garbage_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="unet/config.json is missing"):
        load_pretrained("emoji", path=tmp_path)
    (tmp_path / "unet").mkdir()
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{not json")
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"junk")
    (tmp_path / "scheduler" / "scheduler_config.json").write_text("{}")
    (tmp_path / "prompt_embeds.safetensors").write_bytes((concepts.EMOJI_DIR / "prompt_embeds.safetensors").read_bytes())
    with pytest.raises(ValueError, match="readable emoji model"):
        load_pretrained("emoji", path=tmp_path)


@needs_model
def test_part_a_loop_runs_with_learned_variance(emoji_model):
    from fundiff.impl import as_impl

    impl = as_impl(None)
    est = impl.guidance.cfg_estimator(emoji_model.estimator("a rocket ship"), emoji_model.estimator(""), 7.0)
    x = impl.denoise.sample(est, (2, 3, 32, 32), impl.denoise.strided_timesteps(600, 150), emoji_model.alphas_cumprod,
                            torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all()


