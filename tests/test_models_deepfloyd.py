"""The pretrained-model interface (fundiff.models): DeepFloyd IF loaded offline from stand-ins built
from the real IF configs scaled down and written with save_pretrained, the exact Gaussian model, and
the input checks."""
import inspect
import json
import pickle

import pytest
import torch

from fundiff import models
from fundiff.grading.cases.part_a import gen
from fundiff.models import deepfloyd as df

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


def test_the_course_defaults():
    """stage 1 is the course's IF-I-L (XL an option), stage 2 IF-II-L; upsampling as the notebook"""
    assert df.IF_STAGE1 == "DeepFloyd/IF-I-L-v1.0" and df.IF_STAGE1_XL == "DeepFloyd/IF-I-XL-v1.0"
    assert df.IF_STAGE2 == "DeepFloyd/IF-II-L-v1.0"
    assert inspect.signature(df.load_deepfloyd).parameters["path"].default == df.IF_STAGE1
    up = inspect.signature(df.DeepFloydIF.upsample).parameters
    assert up["num_inference_steps"].default == df.UPSAMPLE_STEPS == 30 and df.UPSAMPLE_STEPS_PART0 == 20
    assert up["noise_level"].default == df.UPSAMPLE_NOISE_LEVEL == 250 and up["guidance_scale"].default == 4.0
    from diffusers import IFSuperResolutionPipeline

    pipe = inspect.signature(IFSuperResolutionPipeline.__call__).parameters  # the notebook keeps these defaults
    assert pipe["noise_level"].default == 250 and pipe["guidance_scale"].default == 4.0


def test_the_real_configs_build_the_real_models():
    """the configs written down build UNets of the published sizes (IF-I-XL 4.3B, IF-II-L 1.2B
    parameters), counted on the meta device (no memory)"""
    from diffusers import UNet2DConditionModel

    for cfg, billions in ((df.IF_I_XL_UNET_CONFIG, 4.3), (df.IF_II_L_UNET_CONFIG, 1.2)):
        with torch.device("meta"):
            unet = UNet2DConditionModel(**cfg)
        n = sum(p.numel() for p in unet.parameters()) / 1e9
        assert abs(n - billions) < 0.06, (n, billions)


CODE_PATH_KEYS = ("addition_embed_type", "encoder_hid_dim_type", "class_embed_type", "down_block_types",
                  "up_block_types", "mid_block_type", "resnet_time_scale_shift", "act_fn", "cross_attention_norm",
                  "resnet_skip_time_act", "resnet_out_scale_factor", "mid_block_scale_factor", "time_embedding_act_fn",
                  "in_channels", "out_channels", "only_cross_attention", "flip_sin_to_cos", "time_embedding_type")


def test_the_stand_ins_are_the_real_configs_scaled_down(tiny_if_path, tmp_path):
    """the folders the tests load hold the real configs with only sizes changed: every option that
    selects a code path is the real one, and the schedulers are the real ones (thresholding on)"""
    df.save_tiny_if_stage2(tmp_path / "stage2")
    for folder, real, sched in ((tiny_if_path, df.IF_I_XL_UNET_CONFIG, df.IF_STAGE1_SCHEDULER_CONFIG),
                                (tmp_path / "stage2", df.IF_II_L_UNET_CONFIG, df.IF_STAGE2_SCHEDULER_CONFIG)):
        saved = json.loads((folder / "unet" / "config.json").read_text())
        for key in CODE_PATH_KEYS:
            assert saved[key] == real[key] or (isinstance(real[key], list) and saved[key] == list(real[key])), key
        assert saved["encoder_hid_dim"] is not None and saved["layers_per_block"] != real["layers_per_block"]
        assert len(saved["block_out_channels"]) == len(real["block_out_channels"])
        got = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        assert {k: got[k] for k in sched} == sched
    assert df.IF_I_XL_UNET_CONFIG["addition_embed_type"] == "text" and df.IF_I_XL_UNET_CONFIG["encoder_hid_dim"] == 4096
    assert set(df.IF_I_XL_UNET_CONFIG["down_block_types"][1:]) == {"SimpleCrossAttnDownBlock2D"}
    s2 = df.IF_II_L_UNET_CONFIG
    assert s2["in_channels"] == 6 and s2["class_embed_type"] == "timestep" and s2["resnet_time_scale_shift"] == "scale_shift"
    noising = json.loads((tmp_path / "stage2" / "image_noising_scheduler" / "scheduler_config.json").read_text())
    assert noising["beta_schedule"] == "squaredcos_cap_v2"


def test_the_real_scheduler_config_is_read_as_it_is(tiny_if, tiny_if_path, tmp_path):
    """the model's scheduler is the folder's, thresholding included (ratio 0.95, s ≤ 1.5; stage 2:
    1.0): the course's loop uses only its ᾱ, and IFPipeline as configured does threshold, so its
    samples differ from the loop's (the oracle test switches thresholding off: test_a16_cfg.py)"""
    from fundiff.impl import load_impl

    cfg = tiny_if.scheduler.config
    assert cfg.thresholding is True and cfg.dynamic_thresholding_ratio == 0.95 and cfg.sample_max_value == 1.5
    assert cfg.clip_sample is True and cfg.variance_type == "learned_range" and cfg.beta_schedule == "squaredcos_cap_v2"
    df.save_tiny_if_stage2(tmp_path / "stage2")
    m = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                               prompt_embeds=tiny_if_path / "prompt_embeds.pth", stage2=str(tmp_path / "stage2"))
    assert m.stage2.scheduler.config.thresholding is True and m.stage2.scheduler.config.sample_max_value == 1.0
    try:
        solutions = load_impl("solutions")
        solutions.denoise
    except Exception:  # noqa: BLE001
        pytest.skip("solutions/ withheld")
    embeds = models.load_prompt_embeds(tiny_if_path / "prompt_embeds.pth")
    ts, p = list(range(990, -1, -90)), "a high quality photo"
    est = solutions.guidance.cfg_estimator(m.estimator(p), m.estimator(""), 7.0)
    ours = solutions.denoise.sample(est, (1, 3, 16, 16), ts, m.alphas_cumprod, gen(180))
    kw = dict(prompt_embeds=embeds[p].float(), negative_prompt_embeds=embeds[""].float(), timesteps=ts,
              guidance_scale=7.0, generator=gen(180), output_type="pt")
    plain = df.if_pipeline(tiny_if_path)(**kw).images
    thresholded = df.if_pipeline(tiny_if_path, as_configured=True)(**kw).images
    torch.testing.assert_close(ours, plain, atol=1e-3, rtol=1e-4)
    assert float((thresholded - ours).abs().max()) > 0.05
    assert float(thresholded.abs().max()) <= 1.0 + 1e-6  # dynamic thresholding keeps x̂₀ in [-1, 1]


def test_deepfloyd_predict_splits_the_six_channels(tiny_if):
    m = tiny_if
    x = torch.randn((2, 3, 16, 16), generator=gen(0))
    cond = m.encode_prompt("an oil painting")
    assert cond.shape == (1, 77, df.TINY_TEXT_WIDTH) and cond.dtype == torch.float32  # stored fp16, run fp32
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


class Evil:
    """A pickled object whose unpickling runs code (print)."""

    def __reduce__(self):
        return (print, ("pickled code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_prompt_embeddings_are_read_without_running_pickled_code(tmp_path, capsys):
    # written exactly as the course's file: torch.save of a dict of fp16 (1, 77, 4096) tensors, "" included
    course = {p: torch.randn(1, 77, 4096, generator=gen(i)).half()
              for i, p in enumerate(["", "a high quality photo", "an oil painting of a snowy mountain village"])}
    good = tmp_path / "prompt_embeds_dict.pth"
    torch.save(course, good)
    got = models.load_prompt_embeds(good)
    assert list(got) == list(course)
    for k, v in got.items():
        assert v.dtype == torch.float16 and v.shape == (1, 77, 4096) and torch.equal(v, course[k])

    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump({"": Evil()}, f)
    with pytest.raises(ValueError, match="weights_only=True"):
        models.load_prompt_embeds(bad)
    saved = tmp_path / "saved_with_code.pth"  # torch.save of a dict with code in it
    torch.save({"": torch.zeros(1, 77, 8), "a dog": Evil()}, saved)
    with pytest.raises(ValueError, match="weights_only=True"):
        models.load_prompt_embeds(saved)
    assert "pickled code ran" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="not found"):
        models.load_prompt_embeds(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"a": torch.zeros(77, 8)}, wrong)
    with pytest.raises(ValueError, match=r"\(1, L, D\)"):
        models.load_prompt_embeds(wrong)


def test_embeddings_without_the_null_prompt_are_refused(tiny_if_path):
    embeds = {"a high quality photo": torch.zeros(1, 77, df.TINY_TEXT_WIDTH)}
    with pytest.raises(ValueError, match="empty prompt"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=embeds)


def test_a_course_format_file_runs_the_model_and_a_wrong_width_is_named(tiny_if_path, tmp_path):
    """the course's format (fp16 dict, "" included) at the stand-in's width loads through the user's
    path and predicts in float32; the real 4096-wide file on a narrower UNet is a clear error"""
    w = df.TINY_TEXT_WIDTH
    f = tmp_path / "embeds.pth"
    torch.save({"": torch.randn(1, 77, w).half(), "a rocket ship": torch.randn(1, 77, w).half()}, f)
    m = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=f)
    eps, v = m.estimator("a rocket ship")(torch.zeros(1, 3, 16, 16), 500)
    assert eps.dtype == torch.float32 and v.shape == (1, 3, 16, 16)
    wide = tmp_path / "course.pth"
    torch.save({"": torch.zeros(1, 77, 4096).half()}, wide)
    with pytest.raises(ValueError, match=f"width 4096, the UNet expects {w}"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=wide)


def test_the_loader_names_bad_inputs(tiny_if_path, tmp_path):
    emb = tiny_if_path / "prompt_embeds.pth"
    with pytest.raises(ValueError, match="neither an existing folder nor a hub id"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tmp_path / "nowhere" / "if"), prompt_embeds=emb)
    with pytest.raises(ValueError, match="is a file"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(emb), prompt_embeds=emb)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no unet/, scheduler/"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tmp_path / "empty"), prompt_embeds=emb)
    with pytest.raises(ValueError, match="hub id"):
        models.load_pretrained("deepfloyd", device="cpu", path=3, prompt_embeds=emb)
    with pytest.raises(ValueError, match=r"stage2 folder .*has no .*image_noising_scheduler/"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=emb,
                               stage2=str(tiny_if_path))
    with pytest.raises(ValueError, match="prompt_embeds must be"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=[1, 2])
    with pytest.raises(ValueError, match="dtype must be"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=emb, dtype=torch.int8)
    with pytest.raises(ValueError, match="not found"):
        models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path), prompt_embeds=tmp_path / "x.pth")


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
            self.emb = torch.nn.Embedding(7, unet.config.encoder_hid_dim)

        def forward(self, ids, attention_mask=None):
            return (self.emb(ids),)

    m = models.DeepFloydIF(unet, sched, text_encoder=Enc(), tokenizer=Tok())
    assert m.prompts is None
    assert m.encode_prompt("anything at all").shape == (1, 77, unet.config.encoder_hid_dim)
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
    loop's result up to fp16 rounding, and IFPipeline's (thresholding and clip_sample off, as the
    loop) in fp16 where this torch draws the same numbers for float16 noise on the CPU as for float32
    (IFPipeline draws float16: torch 2.11 did not, and its trajectory then starts from other noise)."""
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
    pipe = df.if_pipeline(tiny_if_path, dtype=torch.float16).to("cuda")  # thresholding off, as the loop
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
    """stage 2 (optional): a 16 px stage-1 image becomes a 64 px one (× 4, as 64 → 256) in [-1, 1],
    seeded on the CPU; what our unclipped loop produces (a little outside [-1, 1]) is clamped, not
    refused; an image in [0, 255] is refused"""
    models.save_tiny_if_stage2(tmp_path / "stage2")
    m = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                               prompt_embeds=tiny_if_path / "prompt_embeds.pth", stage2=str(tmp_path / "stage2"))
    assert m.stage2.unet.config.in_channels == 6 and m.stage2.unet.config.class_embed_type == "timestep"
    x = torch.rand((1, 3, 16, 16), generator=gen(0)) * 2 - 1
    y = m.upsample(x, "an oil painting", gen(1), num_inference_steps=2)
    assert y.shape == (1, 3, 64, 64) and y.dtype == torch.float32 and -1 <= y.min() <= y.max() <= 1
    torch.testing.assert_close(y, m.upsample(x, "an oil painting", gen(1), num_inference_steps=2))
    out_of_range = x * 1.6  # like a CFG sample at γ = 7 from the loop, which does not threshold
    assert out_of_range.abs().max() > 1.3
    torch.testing.assert_close(m.upsample(out_of_range, "an oil painting", gen(1), num_inference_steps=2),
                               m.upsample(out_of_range.clamp(-1, 1), "an oil painting", gen(1), num_inference_steps=2))
    with pytest.raises(ValueError, match=r"values must lie in \[-1, 1\].*x \* 2 - 1"):
        m.upsample((x + 1) * 127.5, "an oil painting", gen(1))
    with pytest.raises(ValueError, match="NaN"):
        m.upsample(torch.full((1, 3, 16, 16), float("nan")), "an oil painting", gen(1))
    with pytest.raises(ValueError, match="num_inference_steps"):
        m.upsample(x, "an oil painting", gen(1), num_inference_steps=0)
    no_stage2 = models.load_pretrained("deepfloyd", device="cpu", path=str(tiny_if_path),
                                       prompt_embeds=tiny_if_path / "prompt_embeds.pth")
    with pytest.raises(ValueError, match="no stage 2"):
        no_stage2.upsample(x, "", gen(0))


def test_the_real_size_check_runs_on_the_scaled_down_configs(tmp_path, capsys):
    """tools/if_real_size_check.py (the GPU check at real size) runs end to end with --tiny on the CPU:
    build from the configs, save_pretrained, load through fundiff, a Part A section, stage 2"""
    import importlib.util

    from fundiff.impl import ROOT

    if not (ROOT / "solutions").is_dir():
        pytest.skip("solutions/ withheld")
    spec = importlib.util.spec_from_file_location("if_real_size_check", ROOT / "tools" / "if_real_size_check.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rc = tool.main(["--tiny", "--device", "cpu", "--quick", "--sections", "A1.3", "--samples", "1",
                    "--upsample-steps", "2", "--stride", "330", "--out", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    for name in ("build+save stage1", "build+save stage2", "load (fundiff loader)", "A1.3", "upsample 2 steps"):
        assert f"{name} " in out and "error" not in out.split(name)[1].split("\n")[0], out[-3000:]
    assert (tmp_path / "work" / "stage1" / "unet" / "config.json").is_file()
    assert (tmp_path / "work" / "stage2" / "image_noising_scheduler").is_dir()
