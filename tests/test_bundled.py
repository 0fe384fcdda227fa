"""The bundled MNIST model (fundiff.models.mnist): loading, prompts, the interface, the test images
(fundiff.data.images).

Ungraded tests of the package itself; they use the shipped weights in data/bundled/ and the shipped
images in data/images/ and stay fast (a few UNet passes on a handful of 28×28 images)."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from fundiff.data import images, load_digits
from fundiff.metrics import cfg_sample
from fundiff.models import PretrainedModel, load_pretrained, mnist


@pytest.fixture(scope="module")
def model():
    return mnist.load_bundled("cpu")


# ----------------------------------------------------------------------------------------------
# Loading and the interface
# ----------------------------------------------------------------------------------------------
def test_shipped_files_are_diffusers_format():
    d = mnist.BUNDLED_DIR
    for part in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                 "scheduler/scheduler_config.json", "training.json"):
        assert (d / part).is_file(), f"{d / part} is missing"
    assert not list(d.rglob("*.bin")) and not list(d.rglob("*.pt*")), "weights must be safetensors only"
    size = (d / "unet/diffusion_pytorch_model.safetensors").stat().st_size
    assert size < 20e6, f"the bundled weights should be a few MB, got {size / 1e6:.1f} MB"


def test_training_record_matches_the_weights(model):
    rec = json.loads((mnist.BUNDLED_DIR / "training.json").read_text())
    for key in ("seed", "steps", "wall_clock_s", "loss", "data", "unet_config", "scheduler_config"):
        assert key in rec, f"training.json lacks {key!r}"
    assert rec["steps"] > 0 and rec["loss"]["final_mean_last_100_steps"] < 0.1
    for k, v in rec["unet_config"].items():
        got = model.unet.config[k]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == (list(v) if isinstance(v, (list, tuple)) else v), k


def test_interface_attributes(model):
    from diffusers import DDPMScheduler

    assert isinstance(model, PretrainedModel)
    assert model.name == "bundled"
    assert model.image_shape == (1, 28, 28)
    assert model.value_range == (-1.0, 1.0)
    assert model.null_prompt == ""
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    assert model.alphas_cumprod.dtype == torch.float32 and model.alphas_cumprod.shape == (1000,)
    torch.testing.assert_close(model.alphas_cumprod, ref.float())
    assert model.scheduler.config.variance_type == "fixed_small"
    assert model.scheduler.config.prediction_type == "epsilon"
    assert model.unet.config.num_class_embeds == 11
    assert not model.unet.training


def test_load_pretrained_bundled():
    m = load_pretrained("bundled", device="cpu")
    assert type(m).__name__ == "BundledModel" and m.image_shape == (1, 28, 28)


def test_incomplete_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="unet/config.json"):
        mnist.load_bundled("cpu", path=tmp_path)


# ----------------------------------------------------------------------------------------------
# Prompts
# ----------------------------------------------------------------------------------------------
def test_prompts(model):
    assert set(model.prompts) == {*map(str, range(10)), *mnist.DIGIT_WORDS, ""}
    for d, word in enumerate(mnist.DIGIT_WORDS):
        assert model.encode_prompt(str(d)) == model.encode_prompt(word) == d
    assert model.encode_prompt("") == mnist.NULL_CLASS


@pytest.mark.parametrize("bad", ["ten", "a high quality photo", " 3", "Three", "10"])
def test_bad_prompts_list_what_the_model_understands(model, bad):
    with pytest.raises(ValueError, match="'seven'.*''"):
        model.encode_prompt(bad)
    with pytest.raises(ValueError, match="understands"):
        model.estimator(bad)


def test_prompt_must_be_a_string(model):
    with pytest.raises(ValueError, match="str"):
        model.encode_prompt(3)


# ----------------------------------------------------------------------------------------------
# Predictions
# ----------------------------------------------------------------------------------------------
def test_predict_shapes_and_conditioning(model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 28, 28, generator=g)
    eps3, v = model.predict(x, 500, model.encode_prompt("3"))
    assert v is None and eps3.shape == x.shape and eps3.dtype == torch.float32
    eps3b, _ = model.estimator("three")(x, 500)
    torch.testing.assert_close(eps3, eps3b)
    eps8, _ = model.predict(x, 500, model.encode_prompt("8"))
    assert (eps3 - eps8).abs().max() > 1e-3, "the class label must change the prediction"
    # the same as the raw diffusers UNet with class labels
    raw = model.unet(x, 500, class_labels=torch.full((3,), 3)).sample
    torch.testing.assert_close(eps3, raw, atol=1e-5, rtol=1e-4)
    # a per-image computation: one image alone gives the same ε as in the batch
    torch.testing.assert_close(model.predict(x[1:2], 500, 3)[0], eps3[1:2], atol=1e-5, rtol=1e-4)


def test_predict_keeps_float64_inputs(model):
    x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
    eps, _ = model.predict(x, 10, 0)
    assert eps.dtype == torch.float64


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (2, 1, 32, 32), (1, 28, 28)])
def test_predict_rejects_wrong_shapes(model, shape):
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)|28"):
        model.predict(torch.zeros(shape), 10, 3)


@pytest.mark.parametrize("t", [-1, 1000, 2.5])
def test_predict_rejects_bad_timesteps(model, t):
    with pytest.raises(ValueError, match="timestep"):
        model.predict(torch.zeros(1, 1, 28, 28), t, 3)


def test_one_step_denoising_improves_a_digit(model):
    """x̂₀ from the model's ε̂ is much closer to the clean digit than the noisy input (a trained model
    in the [-1, 1] convention; a [0, 1] or untrained model fails this)."""
    x, y = load_digits("heldout")
    x0 = x[::50][:8] * 2 - 1
    abar = model.alphas_cumprod[500]
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    eps_hat, _ = model.predict(x_t, 500, model.encode_prompt(""))
    x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    assert (eps_hat - eps).pow(2).mean() < 0.25 * eps.pow(2).mean()
    assert (x0_hat - x0).pow(2).mean() < 0.25 * (x_t - x0).pow(2).mean()


def test_check_image(model):
    model.check_image(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\[-1.0, 1.0\]"):
        model.check_image(torch.full((1, 1, 28, 28), 255.0))


# ----------------------------------------------------------------------------------------------
# Test images and masks
# ----------------------------------------------------------------------------------------------
def test_shipped_image_sets():
    sets = images.test_image_paths()
    assert len(sets["test"]) == 10 and len(sets["web"]) == 10
    assert len(sets["drawings"]) >= 3 and len(sets["masks"]) >= 3
    for kind in ("test", "web", "drawings"):
        for p in sets[kind]:
            x = images.load_image(p)
            assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
            assert x.min() >= -1 and x.max() <= 1 and x.max() > 0.5, p
            assert x.mean() < -0.5, f"{p}: expected a light digit on a dark background"


def test_heldout_images_are_the_heldout_digits():
    x, y = load_digits("heldout")
    for d in (0, 7):
        want = x[(y == d).nonzero()[0, 0]] * 2 - 1
        got = images.load_image(images.IMAGES_DIR / f"heldout_{d}.png")[0]
        torch.testing.assert_close(got, want, atol=1.5 / 255, rtol=0)


def test_images_are_reproducible(tmp_path):
    """write_images rewrites the shipped test images: pixel for pixel with the Pillow they were made
    with (13.0.0); with another Pillow (its resampling and stroke drawing may move a few grey levels)
    every rewritten image is still closest to its own shipped picture and differs little from it."""
    import PIL

    written = images.write_images(tmp_path)
    shipped = images.IMAGES_DIR
    names = sorted(p.name for p in shipped.glob("*.png"))
    assert sorted(p.name for p in written) == names
    ref = {n: images.load_image(shipped / n) for n in names}
    for p in written:
        got = images.load_image(p)
        if PIL.__version__ == "13.0.0":
            torch.testing.assert_close(got, ref[p.name], atol=0, rtol=0)
        else:
            dist = {n: float((got - r).abs().mean()) for n, r in ref.items()}
            assert min(dist, key=dist.get) == p.name and dist[p.name] < 0.1, (p.name, PIL.__version__, dist[p.name])


def test_classifier_reads_drawings_and_typeset_digits():
    from fundiff.metrics import classify

    sets = images.test_image_paths()
    paths = sets["drawings"] + sets["web"]
    x = torch.cat([images.load_image(p) for p in paths])
    labels = torch.tensor([int(p.stem.split("_")[1]) for p in paths])
    got = classify((x + 1) / 2)
    assert (got == labels).float().mean() >= 0.8, list(zip([p.name for p in paths], got.tolist()))


def test_masks():
    top = images.load_mask(images.IMAGES_DIR / "mask_top.png")
    assert top.shape == (1, 1, 28, 28) and set(top.unique().tolist()) == {0.0, 1.0}
    assert top[..., :14, :].eq(1).all() and top[..., 14:, :].eq(0).all()
    center = images.load_mask(images.IMAGES_DIR / "mask_center.png")
    assert center[..., 14, 14] == 1 and center[..., 0, 0] == 0


def test_image_round_trip(tmp_path):
    x = (torch.arange(784, dtype=torch.float32).reshape(1, 1, 28, 28) % 256) / 255 * 2 - 1
    path = images.save_image(x, tmp_path / "x.png")
    torch.testing.assert_close(images.load_image(path), x, atol=1e-6, rtol=0)


def test_rgba_image_is_grey_on_black(tmp_path):
    im = Image.new("RGBA", (28, 28), (255, 255, 255, 0))  # transparent white → black
    im.putpixel((3, 4), (255, 255, 255, 255))
    im.save(tmp_path / "a.png")
    x = images.load_image(tmp_path / "a.png")
    assert x[0, 0, 4, 3] == 1 and x[0, 0, 0, 0] == -1


def test_image_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m fundiff.bundled images"):
        images.load_image(tmp_path / "missing.png")
    (tmp_path / "not.png").write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        images.load_image(tmp_path / "not.png")
    Image.new("L", (32, 30)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="32×30.*28×28"):
        images.load_image(tmp_path / "big.png")
    with pytest.raises(ValueError, match="28×28"):
        images.load_mask(tmp_path / "big.png")


def test_model_load_image_resizes_any_picture(model, tmp_path):
    Image.new("L", (64, 64), 255).save(tmp_path / "white.png")
    x = model.load_image(tmp_path / "white.png")
    assert x.shape == (1, 1, 28, 28) and torch.allclose(x, torch.ones_like(x))
    torch.testing.assert_close(model.load_image(images.IMAGES_DIR / "drawn_2.png"),
                               images.load_image(images.IMAGES_DIR / "drawn_2.png"))


# ----------------------------------------------------------------------------------------------
# The Part A loop on the bundled model (2–3 steps)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def solutions_impl():
    from fundiff.impl import load_impl

    try:
        impl = load_impl("solutions")
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"solutions/ not available: {err}")
    if not hasattr(impl.denoise, "iterative_denoise") or not hasattr(impl.guidance, "cfg_estimator"):
        pytest.skip("solutions/ has no Part A loop yet")
    return impl


def test_part_a_loop_smoke(model, solutions_impl):
    den, gui = solutions_impl.denoise, solutions_impl.guidance
    est = gui.cfg_estimator(model.estimator("4"), model.estimator(""), 5.0)
    x = den.sample(est, (2, 1, 28, 28), [990, 0], model.alphas_cumprod, torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()


def test_part_a_loop_matches_diffusers_scheduler(model, solutions_impl):
    """Our loop on the interface = diffusers' DDPMScheduler.step loop on the raw UNet (same noise)."""
    ts = [990, 600, 300, 0]
    ours = cfg_sample(model, "6", 2, 3.0, torch.Generator().manual_seed(3), ts, solutions_impl)
    ref = mnist.diffusers_cfg_sample(model.unet, model.scheduler.config, 6, 2, 3.0,
                                       torch.Generator().manual_seed(3), ts).clamp(-1, 1)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_per_image_class_labels(model):
    """cond may also be a (B,) int64 tensor of class labels: the same as one prompt per image."""
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    both, _ = model.predict(x, 300, torch.tensor([3, mnist.NULL_CLASS]))
    torch.testing.assert_close(both[:1], model.predict(x[:1], 300, 3)[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(both[1:], model.predict(x[1:], 300, model.encode_prompt(""))[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="class labels"):
        model.predict(x, 300, torch.tensor([3, 4, 5]))
