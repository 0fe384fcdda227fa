"""The pretrained-model interface (fundiff.models): DeepFloyd IF loaded offline from a tiny IF-shaped
pipeline written with save_pretrained, the exact Gaussian model, and the input checks."""
import pickle

import pytest
import torch

from fundiff import models
from fundiff.grading.cases.part_a import gen

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def tiny_if_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_if")
    models.save_tiny_if(path)
    return path


@pytest.fixture(scope="module")
def tiny_if(tiny_if_path):
    return models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                                  prompt_embeds=tiny_if_path / "prompt_embeds.pth")


def test_deepfloyd_loads_through_the_same_code_as_the_hub(tiny_if, tiny_if_path):
    m = tiny_if
    assert m.image_shape == (3, 16, 16) and m.value_range == (-1.0, 1.0)
    assert m.dtype == torch.float32 and m.device.type == "cpu"
    assert m.alphas_cumprod.dtype == torch.float32 and m.alphas_cumprod.shape == (1000,)
    from diffusers import DDPMScheduler

    want = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    torch.testing.assert_close(m.alphas_cumprod, want)
    assert m.scheduler.config.variance_type == "learned_range"
    assert set(m.prompts) == {"", "a high quality photo", "an oil painting"} and m.null_prompt == ""


def test_deepfloyd_predict_splits_the_six_channels(tiny_if):
    m = tiny_if
    x = torch.randn((2, 3, 16, 16), generator=gen(0))
    cond = m.encode_prompt("an oil painting")
    assert cond.shape == (1, 77, 32)
    eps, v = m.predict(x, 500, cond)
    out = m.unet(x, 500, encoder_hidden_states=cond.expand(2, -1, -1)).sample
    assert out.shape == (2, 6, 16, 16)
    torch.testing.assert_close(eps, out[:, :3].detach())
    torch.testing.assert_close(v, out[:, 3:].detach())
    eps2, v2 = m.estimator("an oil painting")(x, 500)
    torch.testing.assert_close(eps2, eps)
    assert not eps.requires_grad


def test_unknown_prompts_and_bad_inputs_are_clear_errors(tiny_if):
    m = tiny_if
    with pytest.raises(ValueError, match=r"unknown prompt 'a cat'.*'a high quality photo'"):
        m.estimator("a cat")
    with pytest.raises(ValueError, match="must be a str"):
        m.encode_prompt(3)
    cond = m.encode_prompt("")
    with pytest.raises(ValueError, match=r"shape \(B, 3, 16, 16\).*got \(2, 1, 16, 16\)"):
        m.predict(torch.zeros(2, 1, 16, 16), 10, cond)
    with pytest.raises(ValueError, match=r"\[0, 1000\)"):
        m.predict(torch.zeros(1, 3, 16, 16), 1000, cond)
    with pytest.raises(ValueError, match="3 channels"):
        m.check_image(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"16×16 pixels"):
        m.check_image(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"values must lie in \[-1.0, 1.0\].*x \* 2 - 1"):
        m.check_image(torch.full((1, 3, 16, 16), 200.0))
    m.check_image(torch.zeros(1, 3, 16, 16))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_prompt_embeddings_are_read_without_running_pickled_code(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"": torch.zeros(1, 77, 8), "a dog": torch.ones(1, 77, 8)}, good)
    assert set(models.load_prompt_embeds(good)) == {"", "a dog"}

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump({"": Evil()}, f)
    with pytest.raises(ValueError, match="weights_only=True"):
        models.load_prompt_embeds(bad)
    with pytest.raises(ValueError, match="not found"):
        models.load_prompt_embeds(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"a": torch.zeros(77, 8)}, wrong)
    with pytest.raises(ValueError, match=r"\(1, L, D\)"):
        models.load_prompt_embeds(wrong)


def test_embeddings_without_the_null_prompt_are_refused(tiny_if_path):
    embeds = {"a high quality photo": torch.zeros(1, 77, 32)}
    with pytest.raises(ValueError, match="empty prompt"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=embeds)


def test_prompts_can_be_encoded_by_a_text_encoder(tiny_if_path):
    """without embeddings, prompts go through the (T5) text encoder and tokenizer, any text accepted"""
    unet, sched, _ = models.tiny_if_parts()

    class Tok:
        def __call__(self, prompts, **kw):
            assert kw["max_length"] == 77 and kw["padding"] == "max_length"
            ids = torch.tensor([[len(p) % 7] * 77 for p in prompts])
            return type("T", (), {"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 32)

        def forward(self, ids, attention_mask=None):
            return (self.emb(ids),)

    m = models.DeepFloydIF(unet, sched, text_encoder=Enc(), tokenizer=Tok())
    assert m.prompts is None
    assert m.encode_prompt("anything at all").shape == (1, 77, 32)
    eps, v = m.estimator("a watercolor")(torch.zeros(1, 3, 16, 16), 100)
    assert eps.shape == v.shape == (1, 3, 16, 16)


def test_gaussian_model_is_the_exact_noise_predictor():
    """E[ε | x_t] by Monte Carlo equals the model's closed form"""
    m = models.load_pretrained("gaussian", image_shape=(1, 4, 4))
    t = 400
    abar = m.alphas_cumprod[t]
    g = gen(0)
    mu = m.means["corner"]
    x0 = mu + m.std * torch.randn((200000, 1, 4, 4), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    pred, v = m.predict(x_t, t, m.encode_prompt("corner"))
    assert v is None
    # the regression E[ε|x_t] minimizes the MSE: its error is the irreducible one, below a perturbed predictor's
    mse = ((pred - eps) ** 2).mean()
    assert mse < ((1.05 * pred - eps) ** 2).mean() and mse < ((0.95 * pred - eps) ** 2).mean()
    assert abs(float((pred - eps).mean())) < 3e-3


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown pretrained model 'sd'"):
        models.load_pretrained("sd")


def test_bundled_model_follows_the_interface():
    from fundiff.models import mnist

    if not mnist.BUNDLED_DIR.is_dir():
        pytest.skip("the bundled model is not shipped yet")
    m = models.load_pretrained("bundled", device="cpu")
    assert m.image_shape == (1, 28, 28) and "" in m.prompts
    eps, _ = m.estimator("3")(torch.zeros(1, 1, 28, 28), 500)
    assert eps.shape == (1, 1, 28, 28)


@pytest.mark.gpu
@cuda
def test_deepfloyd_fp16_on_cuda_matches_float32_and_ifpipeline(tiny_if_path, solutions):
    """The fp16 CUDA path: the CFG loop (noise drawn in float32 on the CPU) gives the float32 CPU
    loop's result up to fp16 rounding, and IFPipeline's in fp16 where this torch draws the same
    numbers for float16 noise on the CPU as for float32 (IFPipeline draws float16: torch 2.11 did not,
    and its trajectory then starts from other noise)."""
    from diffusers import IFPipeline

    m = models.load_pretrained("deepfloyd", path=str(tiny_if_path), prompt_embeds=tiny_if_path / "prompt_embeds.pth")
    assert m.device.type == "cuda" and m.dtype == torch.float16
    cpu = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                                 prompt_embeds=tiny_if_path / "prompt_embeds.pth")
    ts = list(range(990, -1, -90))
    p = "a high quality photo"
    got = solutions.denoise.sample(solutions.guidance.cfg_estimator(m.estimator(p), m.estimator(""), 3.0),
                                   (1, 3, 16, 16), ts, m.alphas_cumprod, gen(180), device="cuda")
    assert got.dtype == torch.float32 and got.device.type == "cuda"
    ref = solutions.denoise.sample(solutions.guidance.cfg_estimator(cpu.estimator(p), cpu.estimator(""), 3.0),
                                   (1, 3, 16, 16), ts, cpu.alphas_cumprod, gen(180))
    assert float((got.cpu() - ref).norm() / ref.norm()) < 0.02
    if not torch.equal(torch.randn(64, generator=gen(0), dtype=torch.float16), torch.randn(64, generator=gen(0)).half()):
        pytest.skip(f"torch {torch.__version__} draws float16 noise on the CPU differently from float32 noise")
    embeds = models.load_prompt_embeds(tiny_if_path / "prompt_embeds.pth")
    pipe = IFPipeline.from_pretrained(tiny_if_path, text_encoder=None, tokenizer=None, safety_checker=None,
                                      feature_extractor=None, watermarker=None, requires_safety_checker=False,
                                      torch_dtype=torch.float16).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    want = pipe(prompt_embeds=embeds[p].half().cuda(), negative_prompt_embeds=embeds[""].half().cuda(), timesteps=ts,
                guidance_scale=3.0, generator=gen(180), output_type="pt").images.float().cpu()
    assert float((got.cpu() - want).norm() / want.norm()) < 0.02


def test_pickled_weights_are_refused(tiny_if, tiny_if_path, tmp_path):
    """a pipeline folder whose UNet is a pickled .bin is not loaded (safetensors only)"""
    import shutil

    shutil.copytree(tiny_if_path / "scheduler", tmp_path / "scheduler")
    tiny_if.unet.save_pretrained(tmp_path / "unet", safe_serialization=False)
    assert (tmp_path / "unet" / "diffusion_pytorch_model.bin").is_file()
    with pytest.raises(OSError, match="safetensors"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tmp_path),
                               prompt_embeds=tiny_if_path / "prompt_embeds.pth")


def test_load_image_resizes_any_picture_to_the_model(tiny_if, tmp_path):
    """a web image or a drawing of any size becomes (1, C, H, W) in [-1, 1] for the model"""
    from PIL import Image

    pic = Image.new("RGB", (40, 30), (255, 0, 0))
    pic.save(tmp_path / "pic.png")
    x = tiny_if.load_image(tmp_path / "pic.png")
    assert x.shape == (1, 3, 16, 16) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, :, 8, 8], torch.tensor([1.0, -1.0, -1.0]))
    tiny_if.check_image(x)
    g = models.GaussianModel((1, 8, 8)).load_image(pic)
    assert g.shape == (1, 1, 8, 8) and -1 <= g.min() <= g.max() <= 1
    with pytest.raises(ValueError, match="no image file"):
        tiny_if.load_image(tmp_path / "missing.png")


def test_stage2_upsamples_through_the_superresolution_pipeline(tiny_if_path, tmp_path):
    """stage 2 (optional): a 16 px stage-1 image becomes a 32 px one in [-1, 1], seeded on the CPU"""
    models.save_tiny_if_stage2(tmp_path / "stage2")
    m = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                               prompt_embeds=tiny_if_path / "prompt_embeds.pth", stage2=str(tmp_path / "stage2"))
    x = torch.rand((1, 3, 16, 16), generator=gen(0)) * 2 - 1
    y = m.upsample(x, "an oil painting", gen(1), num_inference_steps=2)
    assert y.shape == (1, 3, 32, 32) and y.dtype == torch.float32 and -1 <= y.min() <= y.max() <= 1
    torch.testing.assert_close(y, m.upsample(x, "an oil painting", gen(1), num_inference_steps=2))
    with pytest.raises(ValueError, match="values must lie"):
        m.upsample((x + 1) * 100, "an oil painting", gen(1))
    no_stage2 = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                                       prompt_embeds=tiny_if_path / "prompt_embeds.pth")
    with pytest.raises(ValueError, match="no stage 2"):
        no_stage2.upsample(x, "", gen(0))
