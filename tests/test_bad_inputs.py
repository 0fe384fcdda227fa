"""Bad inputs get clear errors (issue 17), one table per module: the course functions (the checks
outside the SOLUTION blocks of solutions/, so exercises/ has them too), the pretrained models and
their loaders, the data, the checkpoints, and the commands (argparse's one-line error, exit 2).

Each row: an id, the call, and a regex of the message (what was expected: shape, dtype, range,
file, allowed values).  A row fails when the call succeeds, or raises another exception type, or
raises with a message that does not say what was expected.  Ungraded: the exercise stubs pass the
same checks (they run before the ``raise NotImplementedError``)."""
from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from fundiff import pictures
from fundiff.data import images as data_images
from fundiff.models import GaussianModel, load_pretrained

NAN, INF = float("nan"), float("inf")
T = 1000


def x8(b=1, c=1, fill=None):
    """A batch of (b, c, 8, 8) images in [-1, 1]."""
    x = torch.linspace(-1, 1, b * c * 64).reshape(b, c, 8, 8)
    return x if fill is None else torch.full_like(x, fill)


def with_nan(x, value=NAN):
    x = x.clone()
    x.view(-1)[3] = value
    return x


GAUSS = GaussianModel((1, 8, 8))
ABAR = GAUSS.alphas_cumprod
EST = GAUSS.estimator("")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def run_table(impl, call, match):
    with pytest.raises(ValueError, match=match):
        call(impl)


# ---------------------------------------------------------------------------------------------
# forward.py
# ---------------------------------------------------------------------------------------------
FORWARD = [
    ("t=T", lambda S: S.forward.forward_process(x8(), x8(), T, ABAR), r"t must be an integer timestep in \[-1, 1000\)"),
    ("t=-2", lambda S: S.forward.forward_process(x8(), x8(), -2, ABAR), r"\[-1, 1000\).*got -2"),
    ("t float", lambda S: S.forward.forward_process(x8(), x8(), 500.5, ABAR), r"integer timestep.*500\.5.*float"),
    ("t integral float", lambda S: S.forward.forward_process(x8(), x8(), 500.0, ABAR), r"integer timestep.*float"),
    ("t bool", lambda S: S.forward.forward_process(x8(), x8(), True, ABAR), r"integer timestep.*bool"),
    ("t float tensor", lambda S: S.forward.forward_process(x8(2), x8(2), torch.tensor([1.0, 2.0]), ABAR),
     r"int64 tensor.*got a torch\.float32 tensor"),
    ("t tensor out of range", lambda S: S.forward.forward_process(x8(2), x8(2), torch.tensor([5, 1000]), ABAR),
     r"\[-1, 1000\).*got values in \[5, 1000\]"),
    ("t batch mismatch", lambda S: S.forward.forward_process(x8(2), x8(2), torch.tensor([5, 6, 7]), ABAR),
     r"one timestep per image: shape \(2,\)"),
    ("t 2-D tensor", lambda S: S.forward.forward_process(x8(2), x8(2), torch.zeros(2, 2, dtype=torch.long), ABAR),
     r"shape \(2, 2\)"),
    ("x0 NaN", lambda S: S.forward.forward_process(with_nan(x8()), x8(), 5, ABAR), r"x0 holds NaN or inf"),
    ("x0 inf", lambda S: S.forward.forward_process(with_nan(x8(), INF), x8(), 5, ABAR), r"x0 holds NaN or inf"),
    ("eps NaN", lambda S: S.forward.forward_process(x8(), with_nan(x8()), 5, ABAR), r"eps .* holds NaN"),
    ("x0 uint8", lambda S: S.forward.forward_process(x8().to(torch.uint8), x8(), 5, ABAR),
     r"x0 must be a floating-point tensor.*uint8"),
    ("x0 3-D", lambda S: S.forward.forward_process(x8()[0], x8()[0], 5, ABAR), r"x0 must be a \(B, C, H, W\)"),
    ("x0 a list", lambda S: S.forward.forward_process([[0.0]], x8(), 5, ABAR), r"x0 must be a \(B, C, H, W\) torch.Tensor"),
    ("eps other shape", lambda S: S.forward.forward_process(x8(), x8(2), 5, ABAR), r"eps .*shape of the images, \(1, 1, 8, 8\)"),
    ("alphas_cumprod 2-D", lambda S: S.forward.forward_process(x8(), x8(), 5, ABAR[None]), r"alphas_cumprod must be a \(T,\)"),
    ("alphas_cumprod a list", lambda S: S.forward.abar_at([0.9, 0.8], 0, x8()), r"alphas_cumprod must be a \(T,\)"),
    ("abar_at t=T", lambda S: S.forward.abar_at(ABAR, T, x8()), r"\[-1, 1000\)"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in FORWARD], ids=[c[0] for c in FORWARD])
def test_forward(solutions, call, match):
    run_table(solutions, call, match)


def test_t_minus_one_is_the_documented_past_the_end(solutions):
    """t = −1 ("past the end", ᾱ = 1) is accepted and gives the clean image: inpainting relies on it."""
    x = x8()
    assert torch.equal(solutions.forward.forward_process(x, torch.randn(x.shape), -1, ABAR), x)


# ---------------------------------------------------------------------------------------------
# denoise.py
# ---------------------------------------------------------------------------------------------
DENOISE = [
    ("estimate_x0 t=T", lambda S: S.denoise.estimate_x0(x8(), x8(), T, ABAR), r"\[0, 1000\)"),
    ("estimate_x0 t=-1", lambda S: S.denoise.estimate_x0(x8(), x8(), -1, ABAR), r"\[0, 1000\).*-1"),
    ("estimate_x0 NaN x_t", lambda S: S.denoise.estimate_x0(with_nan(x8()), x8(), 5, ABAR), r"x_t holds NaN"),
    ("posterior_mean t_prev ≥ t", lambda S: S.denoise.posterior_mean(x8(), x8(), 30, 60, ABAR), r"earlier t_prev < t"),
    ("posterior_mean t_prev=-2", lambda S: S.denoise.posterior_mean(x8(), x8(), 30, -2, ABAR), r"t_prev must .*\[-1, 1000\)"),
    ("fixed_variance t=T", lambda S: S.denoise.fixed_variance(T, 990, ABAR), r"t must .*\[0, 1000\)"),
    ("learned_variance NaN v", lambda S: S.denoise.learned_variance(with_nan(x8()), 60, 30, ABAR), r"v .* holds NaN"),
    ("denoise_step z other shape", lambda S: S.denoise.denoise_step(x8(), x8(), None, 60, 30, ABAR, x8(2)),
     r"z .*shape of the images"),
    ("denoise_step t_prev = t", lambda S: S.denoise.denoise_step(x8(), x8(), None, 60, 60, ABAR, x8()), r"t_prev < t"),
    ("inference_timesteps 0", lambda S: S.denoise.inference_timesteps(0), r"\[1, 1000\]"),
    ("inference_timesteps 2000", lambda S: S.denoise.inference_timesteps(2000), r"\[1, 1000\]"),
    ("inference_timesteps float", lambda S: S.denoise.inference_timesteps(20.5), r"num_inference_steps must be an integer"),
    ("inference_timesteps str", lambda S: S.denoise.inference_timesteps("20"), r"num_inference_steps must be an integer"),
    ("strided_timesteps stride 0", lambda S: S.denoise.strided_timesteps(990, 0), r"multiple of stride > 0"),
    ("strided_timesteps float", lambda S: S.denoise.strided_timesteps(990.0, 30), r"start must be an integer"),
    ("gaussian_blur even kernel", lambda S: S.denoise.gaussian_blur(x8(), 4, 1.0), r"positive odd int"),
    ("gaussian_blur sigma 0", lambda S: S.denoise.gaussian_blur(x8(), 3, 0.0), r"sigma .* must be > 0"),
    ("gaussian_blur sigma NaN", lambda S: S.denoise.gaussian_blur(x8(), 3, NAN), r"sigma .* finite number"),
    ("gaussian_blur kernel > image", lambda S: S.denoise.gaussian_blur(x8(), 33, 2.0),
     r"kernel_size 33 is too large for a 8×8 image: .* at most 15"),
    ("best_blur empty grid", lambda S: S.denoise.best_blur(x8(), x8(), [], [1.0]), r"non-empty grids"),
    ("best_blur other shapes", lambda S: S.denoise.best_blur(x8(), x8(2), [3], [1.0]), r"x0 must have the shape"),
    ("timesteps ascending", lambda S: S.denoise.iterative_denoise(x8(), EST, [0, 30, 60], 0, ABAR, gen()),
     r"strictly descending"),
    ("timesteps past T", lambda S: S.denoise.iterative_denoise(x8(), EST, [1000, 0], 0, ABAR, gen()), r"\[0, 1000\)"),
    ("timesteps empty", lambda S: S.denoise.iterative_denoise(x8(), EST, [], 0, ABAR, gen()), r"timesteps is empty"),
    ("i_start out of range", lambda S: S.denoise.iterative_denoise(x8(), EST, [60, 30, 0], 3, ABAR, gen()),
     r"i_start must be an index"),
    ("iterative_denoise est not callable", lambda S: S.denoise.iterative_denoise(x8(), "3", [60, 0], 0, ABAR, gen()),
     r"est must be a noise estimator"),
    ("iterative_denoise generator is a seed", lambda S: S.denoise.iterative_denoise(x8(), EST, [60, 0], 0, ABAR, 0),
     r"generator must be a CPU torch.Generator"),
    ("iterative_denoise NaN x", lambda S: S.denoise.iterative_denoise(with_nan(x8()), EST, [60, 0], 0, ABAR, gen()),
     r"x holds NaN"),
    ("iterative_denoise callback not callable",
     lambda S: S.denoise.iterative_denoise(x8(), EST, [60, 0], 0, ABAR, gen(), callback=[]), r"callback must be"),
    ("sample shape 3-D", lambda S: S.denoise.sample(EST, (1, 8, 8), [60, 0], ABAR, gen()), r"shape must be \(B, C, H, W\)"),
    ("sample shape zero", lambda S: S.denoise.sample(EST, (0, 1, 8, 8), [60, 0], ABAR, gen()), r"4 positive ints"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in DENOISE], ids=[c[0] for c in DENOISE])
def test_denoise(solutions, call, match):
    run_table(solutions, call, match)


# ---------------------------------------------------------------------------------------------
# guidance.py
# ---------------------------------------------------------------------------------------------
MASK = torch.zeros(8, 8)
MASK[2:6, 2:6] = 1

GUIDANCE = [
    ("cfg γ NaN", lambda S: S.guidance.cfg_estimator(EST, EST, NAN), r"guidance_scale .* finite number"),
    ("cfg γ inf", lambda S: S.guidance.cfg_estimator(EST, EST, INF), r"guidance_scale .* finite number"),
    ("cfg γ str", lambda S: S.guidance.cfg_estimator(EST, EST, "7"), r"guidance_scale .* finite number"),
    ("cfg est a prompt", lambda S: S.guidance.cfg_estimator("a cat", EST, 7.0), r"est_cond must be a noise estimator"),
    ("sdedit 0..255 image", lambda S: S.guidance.sdedit(x8() * 127.5 + 127.5, EST, [60, 30, 0], 1, ABAR, gen()),
     r"values must lie in \[-1.0, 1.0\].*x / 127.5 - 1"),
    ("sdedit [0, 1] image", lambda S: S.guidance.sdedit(x8() * 0.5 + 1.0, EST, [60, 30, 0], 1, ABAR, gen()),
     r"\[-1.0, 1.0\]"),
    ("sdedit NaN image", lambda S: S.guidance.sdedit(with_nan(x8()), EST, [60, 30, 0], 1, ABAR, gen()), r"holds NaN"),
    ("sdedit i_start float", lambda S: S.guidance.sdedit(x8(), EST, [60, 30, 0], 1.0, ABAR, gen()), r"i_start must be"),
    ("inpaint 0..255 image", lambda S: S.guidance.inpaint(x8() * 127.5 + 127.5, MASK, EST, [60, 0], ABAR, gen()),
     r"x_orig .* values must lie in \[-1.0, 1.0\]"),
    ("inpaint NaN mask", lambda S: S.guidance.inpaint(x8(), with_nan(MASK), EST, [60, 0], ABAR, gen()),
     r"mask holds NaN"),
    ("inpaint inf mask", lambda S: S.guidance.inpaint(x8(), with_nan(MASK, INF), EST, [60, 0], ABAR, gen()),
     r"mask holds NaN, inf"),
    ("inpaint 0..255 mask", lambda S: S.guidance.inpaint(x8(), MASK * 255, EST, [60, 0], ABAR, gen()), r"\[0, 1\]"),
    ("inpaint mask other size", lambda S: S.guidance.inpaint(x8(), torch.ones(16, 16), EST, [60, 0], ABAR, gen()),
     r"does not broadcast"),
    ("inpaint mask a list", lambda S: S.guidance.inpaint(x8(), [[1]], EST, [60, 0], ABAR, gen()), r"mask must be a torch.Tensor"),
    ("inpaint_projection NaN image", lambda S: S.guidance.inpaint_projection(with_nan(x8()), MASK, ABAR, gen()),
     r"holds NaN"),
    ("anagram view by name", lambda S: S.guidance.anagram_estimator(EST, EST, "flip"), r"view must be a function.*VIEWS"),
    ("anagram est None", lambda S: S.guidance.anagram_estimator(EST, None), r"est2 must be a noise estimator"),
    ("rotate90 non-square", lambda S: S.guidance.rotate90(torch.zeros(1, 1, 8, 6)), r"square images only, got 8×6"),
    ("flip of a 1-D tensor", lambda S: S.guidance.flip_upside_down(torch.zeros(8)), r"\(\.\.\., H, W\)"),
    ("hybrid_kernel size 0", lambda S: S.guidance.hybrid_kernel(0), r"image_size must be an integer ≥ 1"),
    ("hybrid_kernel sigma -1", lambda S: S.guidance.hybrid_kernel(64, 33, -1.0), r"sigma must be > 0"),
    ("hybrid even kernel", lambda S: S.guidance.hybrid_estimator(EST, EST, kernel_size=32), r"positive odd int"),
    ("hybrid sigma NaN", lambda S: S.guidance.hybrid_estimator(EST, EST, 3, NAN), r"sigma must be a finite number"),
    ("hybrid kernel larger than the image",
     lambda S: S.guidance.hybrid_estimator(EST, EST, kernel_size=33, sigma=2.0)(x8(), 500),
     r"kernel_size 33 is too large for a 8×8 image.*hybrid_kernel\(8\)"),
    ("lowpass kernel larger than the image", lambda S: S.guidance.lowpass(x8(), 17, 2.0), r"too large for a 8×8 image"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in GUIDANCE], ids=[c[0] for c in GUIDANCE])
def test_guidance(solutions, call, match):
    run_table(solutions, call, match)


def test_the_default_hybrid_kernel_fits_small_images(solutions):
    """kernel_size=None scales the course kernel to the image (8 px → 5), so no error."""
    eps, _ = solutions.guidance.hybrid_estimator(EST, GAUSS.estimator("top"))(x8(), 500)
    assert eps.shape == (1, 1, 8, 8) and torch.isfinite(eps).all()


# ---------------------------------------------------------------------------------------------
# train.py (Part B)
# ---------------------------------------------------------------------------------------------
def sched(S, T=10):
    return S.train.ddpm_schedule(num_ts=T)


def tiny_class_unet(S):
    return S.unet.ClassConditionalUNet(1, 10, 2)


def d28(b=2):
    return torch.rand(b, 1, 28, 28)


TRAIN = [
    ("add_noise σ NaN", lambda S: S.train.add_noise(x8(), NAN, x8()), r"sigma .* finite number"),
    ("add_noise σ < 0", lambda S: S.train.add_noise(x8(), -0.5, x8()), r"sigma .* ≥ 0"),
    ("add_noise noise other shape", lambda S: S.train.add_noise(x8(), 0.5, x8(2)), r"noise must have the shape"),
    ("denoiser_loss NaN digits", lambda S: S.train.denoiser_loss(torch.nn.Identity(), with_nan(x8()), 0.5, x8()),
     r"x holds NaN"),
    ("ddpm_schedule β1 ≤ 0", lambda S: S.train.ddpm_schedule(0.0, 0.02, 300), r"beta1 must be > 0"),
    ("ddpm_schedule β2 < β1", lambda S: S.train.ddpm_schedule(0.02, 0.01, 300), r"beta2 must be ≥ 0.02"),
    ("ddpm_schedule β2 = 1", lambda S: S.train.ddpm_schedule(1e-4, 1.0, 300), r"beta2 must be < 1"),
    ("ddpm_schedule T = 1", lambda S: S.train.ddpm_schedule(1e-4, 0.02, 1), r"num_ts .* integer ≥ 2"),
    ("ddpm_schedule T float", lambda S: S.train.ddpm_schedule(1e-4, 0.02, 300.0), r"num_ts .* integer"),
    ("normalize_t T = 1", lambda S: S.train.normalize_t(torch.zeros(2, dtype=torch.long), 1), r"integer ≥ 2"),
    ("normalize_t t = T", lambda S: S.train.normalize_t(torch.tensor([0, 300]), 300), r"\[0, 300\)"),
    ("normalize_t already normalized", lambda S: S.train.normalize_t(torch.tensor([0.5]), 300), r"int64 tensor"),
    ("class_vector negative label", lambda S: S.train.class_vector(torch.tensor([3, -1]), torch.zeros(2, dtype=torch.bool)),
     r"labels must lie in \[0, 10\).*\[-1, 3\]"),
    ("class_vector label 10", lambda S: S.train.class_vector(torch.tensor([10]), torch.zeros(1, dtype=torch.bool)),
     r"labels must lie in \[0, 10\)"),
    ("class_vector float labels", lambda S: S.train.class_vector(torch.tensor([1.0]), torch.zeros(1, dtype=torch.bool)),
     r"int64 tensor .*labels.long\(\)"),
    ("class_vector drop float", lambda S: S.train.class_vector(torch.tensor([1]), torch.zeros(1)), r"bool tensor"),
    ("class_vector drop other length", lambda S: S.train.class_vector(torch.tensor([1, 2]), torch.zeros(3, dtype=torch.bool)),
     r"\(2,\) bool tensor"),
    ("ddpm_loss t = T", lambda S: S.train.ddpm_loss(S.unet.TimeConditionalUNet(1, 2), d28(), torch.tensor([0, 10]),
                                                     d28(), sched(S)["alphas_cumprod"]), r"\[-1, 10\)"),
    ("ddpm_loss t a python int", lambda S: S.train.ddpm_loss(S.unet.TimeConditionalUNet(1, 2), d28(), 3, d28(),
                                                              sched(S)["alphas_cumprod"]), r"\(B,\) int64 tensor"),
    ("ddpm_loss c wrong batch", lambda S: S.train.ddpm_loss(tiny_class_unet(S), d28(), torch.tensor([1, 2]), d28(),
                                                             sched(S)["alphas_cumprod"], torch.zeros(3, 10)),
     r"c must be a \(2, num_classes\)"),
    ("ddpm_step t = T", lambda S: S.train.ddpm_step(d28(), d28(), 10, sched(S), d28()), r"\[0, 10\)"),
    ("ddpm_step schedule = ᾱ", lambda S: S.train.ddpm_step(d28(), d28(), 3, sched(S)["alphas_cumprod"], d28()),
     r"schedule must be the dict of ddpm_schedule"),
    ("cfg_noise γ NaN", lambda S: S.train.cfg_noise(tiny_class_unet(S), d28(), torch.zeros(2), torch.zeros(2, 10), NAN),
     r"guidance_scale .* finite"),
    ("ddpm_sample γ inf", lambda S: S.train.ddpm_sample(tiny_class_unet(S), (2, 1, 28, 28), sched(S), gen(),
                                                         c=torch.zeros(2, 10), guidance_scale=INF), r"finite number"),
    ("ddpm_sample c for another batch", lambda S: S.train.ddpm_sample(tiny_class_unet(S), (2, 1, 28, 28), sched(S), gen(),
                                                                       c=torch.zeros(4, 10)), r"c must be a \(2,"),
    ("ddpm_sample shape (28, 28)", lambda S: S.train.ddpm_sample(S.unet.TimeConditionalUNet(1, 2), (28, 28), sched(S), gen()),
     r"shape must be \(B, C, H, W\)"),
    ("ddpm_sample seed for generator", lambda S: S.train.ddpm_sample(S.unet.TimeConditionalUNet(1, 2), (1, 1, 28, 28),
                                                                      sched(S), 180), r"generator must be"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in TRAIN], ids=[c[0] for c in TRAIN])
def test_train(solutions, call, match):
    run_table(solutions, call, match)


# ---------------------------------------------------------------------------------------------
# unet.py
# ---------------------------------------------------------------------------------------------
UNET = [
    ("width 0", lambda S: S.unet.UNet(1, 0), r"num_hiddens .* positive int, got 0"),
    ("width float", lambda S: S.unet.TimeConditionalUNet(1, 8.0), r"positive int, got 8.0"),
    ("0 channels", lambda S: S.unet.UNet(0, 8), r"in_channels must be a positive int"),
    ("0 classes", lambda S: S.unet.ClassConditionalUNet(1, 0, 4), r"num_classes must be a positive int"),
    ("conv 0 out", lambda S: S.unet.conv(1, 0), r"out_channels must be a positive int"),
    ("fc_block -1", lambda S: S.unet.fc_block(-1, 4), r"in_features must be a positive int"),
    ("UNet 32×32 input", lambda S: S.unet.UNet(1, 2)(torch.zeros(1, 1, 32, 32)), r"\(B, 1, 28, 28\).*\(1, 1, 32, 32\)"),
    ("UNet 3-channel input", lambda S: S.unet.UNet(1, 2)(torch.zeros(1, 3, 28, 28)), r"\(B, 1, 28, 28\)"),
    ("UNet (28, 28) input", lambda S: S.unet.UNet(1, 2)(torch.zeros(28, 28)), r"\(B, 1, 28, 28\)"),
    ("UNet uint8 input", lambda S: S.unet.UNet(1, 2)(torch.zeros(1, 1, 28, 28, dtype=torch.uint8)), r"floating-point"),
    ("time UNet integer t", lambda S: S.unet.TimeConditionalUNet(1, 2)(d28(), torch.tensor([3, 4])), r"normalize_t"),
    ("time UNet t for another batch", lambda S: S.unet.TimeConditionalUNet(1, 2)(d28(), torch.zeros(3)), r"\(2,\) tensor"),
    ("class UNet c one-hot of 11", lambda S: tiny_class_unet(S)(d28(), torch.zeros(2), torch.zeros(2, 11)),
     r"c must be a \(2, 10\) tensor"),
    ("class UNet labels as c", lambda S: tiny_class_unet(S)(d28(), torch.zeros(2), torch.tensor([3, 4])),
     r"c must be a \(2, 10\) tensor .*class_vector"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in UNET], ids=[c[0] for c in UNET])
def test_unet(solutions, call, match):
    run_table(solutions, call, match)


# ---------------------------------------------------------------------------------------------
# fundiff.models: the interface, the Gaussian model, the bundled model and its loader
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    from fundiff.models.mnist import BUNDLED_DIR, load_bundled

    if not (BUNDLED_DIR / "unet" / "config.json").is_file():
        pytest.skip("the bundled model (data/bundled/) is not there")
    return load_bundled("cpu")


def b28(b=1, fill=None):
    x = torch.linspace(-1, 1, b * 784).reshape(b, 1, 28, 28)
    return x if fill is None else torch.full_like(x, fill)


MODELS = [
    ("load_pretrained unknown", lambda m: load_pretrained("dalle"),
     r"unknown pretrained model 'dalle': expected 'emoji', 'bundled', 'deepfloyd' or 'gaussian'"),
    ("load_pretrained a list", lambda m: load_pretrained(["bundled"]),
     r"unknown pretrained model \['bundled'\]"),
    ("gaussian bad shape", lambda m: GaussianModel((8, 8)), r"image_shape must be \(C, H, W\)"),
    ("gaussian std 0", lambda m: GaussianModel((1, 8, 8), std=0.0), r"std must be a finite number > 0"),
    ("gaussian ᾱ > 1", lambda m: GaussianModel((1, 8, 8), alphas_cumprod=torch.full((10,), 2.0)), r"ᾱ_t in \(0, 1\]"),
    ("predict NaN x_t", lambda m: m.predict(with_nan(b28()), 500, 3), r"x_t holds NaN or inf"),
    ("predict t = T", lambda m: m.predict(b28(), 1000, 3), r"\[0, 1000\)"),
    ("predict 3-channel image", lambda m: m.predict(torch.zeros(1, 3, 28, 28), 500, 3), r"\(B, 1, 28, 28\)"),
    ("class label 11", lambda m: m.predict(b28(), 500, torch.tensor([11])), r"class labels must lie in \[0, 10\]"),
    ("class label -1", lambda m: m.predict(b28(2), 500, torch.tensor([3, -1])), r"\[0, 10\].*\[-1, 3\]"),
    ("class label 12 as int", lambda m: m.predict(b28(), 500, 12), r"class label in \[0, 10\]"),
    ("unknown prompt", lambda m: m.estimator("eleven"), r"unknown prompt 'eleven': this model understands"),
    ("prompt not a str", lambda m: m.estimator(3), r"a prompt must be a str"),
    ("check_image NaN", lambda m: m.check_image(with_nan(b28())), r"NaN or inf"),
    ("check_image 0..255", lambda m: m.check_image(b28() * 127.5 + 127.5), r"values must lie in \[-1.0, 1.0\]"),
    ("load_image a number", lambda m: m.load_image(3), r"image must be a path or a PIL image"),
    ("load_image missing", lambda m: m.load_image("/nonexistent/picture.png"), r"no image file at /nonexistent/picture.png"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in MODELS], ids=[c[0] for c in MODELS])
def test_models(bundled, call, match):
    with pytest.raises(ValueError, match=match):
        call(bundled)


def test_an_image_file_that_is_not_an_image(bundled, tmp_path):
    for name, data in (("text.png", b"not a picture"), ("empty.jpg", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name} is not a readable image file"):
            bundled.load_image(tmp_path / name)
    gauss = GaussianModel((1, 8, 8))
    with pytest.raises(ValueError, match="text.png is not a readable image file"):
        gauss.load_image(tmp_path / "text.png")


def broken_copy(tmp_path, what):
    """A copy of data/bundled/ with one thing broken."""
    from fundiff.models.mnist import BUNDLED_DIR

    path = tmp_path / "bundled"
    shutil.copytree(BUNDLED_DIR, path)
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    config = path / "unet" / "config.json"
    if what == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif what == "garbage weights":
        weights.write_bytes(b"\x00garbage" * 100)
    elif what == "config not JSON":
        config.write_text("{ this is not json")
    elif what == "config a list":
        config.write_text("[1, 2]")
    elif what == "config of another class":
        cfg = json.loads(config.read_text())
        cfg["_class_name"] = "UNet2DConditionModel"
        config.write_text(json.dumps(cfg))
    elif what == "config of another model":
        cfg = json.loads(config.read_text())
        cfg["num_class_embeds"] = None
        config.write_text(json.dumps(cfg))
    elif what == "scheduler config not JSON":
        (path / "scheduler" / "scheduler_config.json").write_text("nope")
    elif what == "weights missing":
        weights.unlink()
    return path


LOADER = [
    ("truncated weights", r"does not hold a readable bundled model.*diffusion_pytorch_model.safetensors"),
    ("garbage weights", r"does not hold a readable bundled model"),
    ("config not JSON", r"unet/config.json is not a readable JSON config"),
    ("config a list", r"unet/config.json must hold a JSON object"),
    ("config of another class", r"configuration of a UNet2DConditionModel, expected a UNet2DModel"),
    ("config of another model", r"not the bundled model's configuration.*num_class_embeds 11"),
    ("scheduler config not JSON", r"scheduler_config.json is not a readable JSON config"),
    ("weights missing", r"incomplete: .*diffusion_pytorch_model.safetensors is missing"),
]


@pytest.mark.parametrize("what,match", LOADER, ids=[c[0] for c in LOADER])
def test_bundled_loader(bundled, tmp_path, what, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        load_pretrained("bundled", device="cpu", path=broken_copy(tmp_path, what))


# ---------------------------------------------------------------------------------------------
# fundiff.data and fundiff.checkpoint
# ---------------------------------------------------------------------------------------------
def digits_file(tmp_path, images=None, labels=None):
    import numpy as np

    images = np.zeros((3, 28, 28), np.uint8) if images is None else images
    labels = np.array([1, 2, 3], np.uint8) if labels is None else labels
    path = tmp_path / "digits.npz"
    np.savez(path, images=images, labels=labels)
    return path


def test_data(tmp_path):
    import numpy as np

    from fundiff.data import DataError, load_digits, read_bundled_digits

    with pytest.raises(DataError, match=r"labels' must be digits 0-9, got values in \[-1, 3\]"):
        read_bundled_digits(digits_file(tmp_path, labels=np.array([1, -1, 3], np.int64)))
    with pytest.raises(DataError, match=r"labels' must be digits 0-9.*\[1, 12\]"):
        read_bundled_digits(digits_file(tmp_path, labels=np.array([1, 12, 3], np.int64)))
    with pytest.raises(DataError, match=r"integer digits 0-9, got float32"):
        read_bundled_digits(digits_file(tmp_path, labels=np.array([1, 2, 3], np.float32)))
    with pytest.raises(DataError, match=r"'images' must be uint8 \(N, 28, 28\)"):
        read_bundled_digits(digits_file(tmp_path, images=np.zeros((3, 32, 32), np.uint8)))
    with pytest.raises(DataError, match=r"holds no digits"):
        read_bundled_digits(digits_file(tmp_path, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"junk.npz is not a readable digits file"):
        read_bundled_digits(tmp_path / "junk.npz")
    with pytest.raises(DataError, match=r"not found at .*missing.npz"):
        read_bundled_digits(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'heldout', 'all'\)"):
        load_digits("test")
    with pytest.raises(DataError, match=r"is a file: expected a folder holding torchvision's MNIST"):
        load_digits("train", root=tmp_path / "junk.npz")


PICTURES = [
    ("grid of NaN", lambda tmp: pictures.save_grid(with_nan(x8()), tmp / "g.png"),
     r"images to draw hold NaN or inf \(1 of 64 values\)"),
    ("grid of 2 channels", lambda tmp: pictures.save_grid(x8(1, 2), tmp / "g.png"),
     r"C = 1 \(grey\) or 3 \(RGB\), got \(1, 2, 8, 8\)"),
    ("grid of (H, W)", lambda tmp: pictures.save_grid(torch.zeros(8, 8), tmp / "g.png"),
     r"\(B, C, H, W\) tensor"),
    ("grid value_range reversed", lambda tmp: pictures.save_grid(x8(), tmp / "g.png", value_range=(1, -1)),
     r"value_range must be \(low, high\) with low < high"),
    ("grid scale 0", lambda tmp: pictures.save_grid(x8(), tmp / "g.png", scale=0),
     r"scale must be a positive int"),
    ("gif without frames", lambda tmp: pictures.save_gif([], tmp / "g.gif"),
     r"at least one frame"),
    ("save_image NaN", lambda tmp: data_images.save_image(with_nan(b28()), tmp / "i.png"),
     r"holds NaN or inf"),
    ("save_image a batch", lambda tmp: data_images.save_image(b28(2), tmp / "i.png"),
     r"writes one greyscale image"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in PICTURES], ids=[c[0] for c in PICTURES])
def test_pictures(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path)
    assert not list(tmp_path.iterdir()), "a refused picture left a file"


def test_torn_temporary_files_are_removed_but_finished_files_kept(tmp_path):
    from fundiff.checkpoint import remove_torn_files, save_state

    save_state({"epoch": 1}, tmp_path / "last.safetensors")
    torn = [tmp_path / ".last.safetensors.abc123.tmp", tmp_path / "losses.csv.tmp"]
    for p in torn:
        p.write_bytes(b"half")
    assert sorted(remove_torn_files(tmp_path)) == sorted(torn)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"]
    assert remove_torn_files(tmp_path / "no-such-folder") == []


# ---------------------------------------------------------------------------------------------
# python -m fundiff.train
# ---------------------------------------------------------------------------------------------
def exit_2(main, argv, capsys, match):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and re.search(match, err[-1]), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


TRAIN_CLI = [
    ("--epochs -1", ["--epochs", "-1"], r"argument --epochs: must be a positive integer, got '-1'"),
    ("--epochs 0", ["--epochs", "0"], r"argument --epochs: must be a positive integer"),
    ("--epochs two", ["--epochs", "two"], r"argument --epochs: must be an integer, got 'two'"),
    ("--threads 0", ["--threads", "0"], r"argument --threads: must be a positive integer"),
    ("--batch-size 0", ["--batch-size", "0"], r"argument --batch-size: must be a positive integer"),
    ("--lr -1", ["--lr", "-1"], r"argument --lr: must be a number > 0"),
    ("--lr nan", ["--lr", "nan"], r"argument --lr: must be a finite number"),
    ("--lr inf", ["--lr", "inf"], r"argument --lr: must be a finite number"),
    ("--hidden 0", ["--hidden", "0"], r"argument --hidden: must be a positive integer"),
    ("--limit 0", ["--limit", "0"], r"argument --limit: must be a positive integer"),
    ("--seed -1", ["--seed", "-1"], r"argument --seed: must be an integer seed in \[0, 2\*\*63\)"),
    ("--device tpu9", ["--device", "tpu9"], r"argument --device: unknown device 'tpu9'"),
    ("--sample-epochs past the end", ["--epochs", "2", "--sample-epochs", "3"], r"--sample-epochs must be .*\[1, 2\]"),
    ("--download without --data", ["--download"], r"--download needs --data DIR"),
    ("--data missing", ["--data", "/nonexistent/mnist"], r"--data /nonexistent/mnist: no such folder"),
    ("--impl missing", ["--impl", "/nonexistent/impl"], r"--impl /nonexistent/impl: implementation folder"),
    ("unknown kind", ["vae"], r"argument kind: invalid choice: 'vae'"),
]


@pytest.mark.parametrize("argv,match", [c[1:] for c in TRAIN_CLI], ids=[c[0] for c in TRAIN_CLI])
def test_train_cli(tmp_path, capsys, argv, match):
    import fundiff.train as ft

    argv = argv if argv[0] == "vae" else ["time", *argv, "--out", str(tmp_path / "run")]
    exit_2(ft.main, argv, capsys, match)
    assert not (tmp_path / "run").exists(), "a refused command left a run folder"


TINY_RUN = ["denoiser", "--epochs", "1", "--hidden", "2", "--batch-size", "16", "--limit", "16", "--no-fast",
            "--sample-epochs"]


def test_train_cli_files(tmp_path, capsys):
    """--out a file or an unwritable place, --resume without a checkpoint or of a finished run, an
    existing run without --resume: argparse's one-line error; torn .tmp files are removed on resume."""
    import fundiff.train as ft

    (tmp_path / "file").write_text("x")
    exit_2(ft.main, ["time", "--out", str(tmp_path / "file")], capsys, r"--out .*file is a file, not a folder")
    exit_2(ft.main, ["time", "--out", str(tmp_path / "file" / "run")], capsys, r"is a file, not a folder")
    exit_2(ft.main, ["time", "--out", "/proc/fundiff-run"], capsys, r"--out /proc/fundiff-run cannot be written")
    exit_2(ft.main, ["time", "--resume", "--out", str(tmp_path / "none")], capsys,
           r"--resume: .*none holds no checkpoint to resume \(.*last.safetensors is missing\)")
    run = tmp_path / "run"
    assert ft.main([*TINY_RUN, "--out", str(run)]) == 0
    exit_2(ft.main, [*TINY_RUN, "--out", str(run)], capsys, r"already holds a training run .*--resume")
    exit_2(ft.main, [*TINY_RUN, "--out", str(run), "--resume"], capsys,
           r"--resume: the run in .* has already trained 1 epochs \(--epochs 1\): nothing to do")
    torn = run / ".last.safetensors.k1ll3d.tmp"
    torn.write_bytes(b"half a checkpoint")
    (run / "losses.csv.tmp").write_text("step,epoch")
    args = [*TINY_RUN, "--out", str(run), "--resume"]
    args[2] = "2"
    assert ft.main(args) == 0
    assert not torn.exists() and not (run / "losses.csv.tmp").exists()
    assert "removed" in capsys.readouterr().err


def test_train_function(tmp_path):
    """The function refuses what the command refuses (for callers that skip the command line)."""
    from dataclasses import replace

    import fundiff.train as ft

    cfg = replace(ft.COURSE["time"], hidden=2, batch_size=16, sample_epochs=(), num_ts=10)
    for change, match in ((dict(epochs=0), r"epochs must be an integer ≥ 1"), (dict(lr=-1.0), r"lr must be a finite"),
                          (dict(batch_size=0), r"batch_size must be"), (dict(hidden=0), r"hidden must be"),
                          (dict(lr=NAN), r"lr must be a finite"), (dict(sample_epochs=(0,)), r"sample_epochs"),
                          (dict(kind="vae"), r"'denoiser', 'time' or 'class'")):
        with pytest.raises(ValueError, match=match):
            ft.train(replace(cfg, **change), tmp_path / "r", progress=False, fast=False, limit=16)
    with pytest.raises(ValueError, match=r"limit must be None or a positive int"):
        ft.train(cfg, tmp_path / "r", progress=False, fast=False, limit=0)
    with pytest.raises(ValueError, match=r"unknown device 'tpu9'"):
        ft.train(cfg, tmp_path / "r", device="tpu9", progress=False, fast=False, limit=16)
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"is a file"):
        ft.train(cfg, tmp_path / "f", progress=False, fast=False, limit=16)


# ---------------------------------------------------------------------------------------------
# python -m fundiff.demo (arguments only: each row stops before any section runs)
# ---------------------------------------------------------------------------------------------
DEMO_CLI = [
    ("--out a file", lambda tmp: ["--out", str(tmp / "file")], r"--out .*file is a file, not a folder"),
    ("--out under a file", lambda tmp: ["--out", str(tmp / "file" / "page")], r"is a file, not a folder"),
    ("--image missing", lambda tmp: ["--image", str(tmp / "missing.png")], r"--image .*missing.png: no such file"),
    ("--image not a picture", lambda tmp: ["--image", str(tmp / "file")],
     r"--image .*file is not a readable picture"),
    ("--sections unknown", lambda tmp: ["--sections", "A9"], r"--sections: unknown section 'A9'"),
    ("--threads 0", lambda tmp: ["--threads", "0"], r"argument --threads: must be a positive integer"),
    ("--seed x", lambda tmp: ["--seed", "x"], r"argument --seed: must be an integer"),
    ("--seed 2**64", lambda tmp: ["--seed", str(2 ** 64)], r"argument --seed: must be an integer seed"),
    ("--device tpu", lambda tmp: ["--device", "tpu"], r"argument --device: unknown device 'tpu'"),
    ("--model dalle", lambda tmp: ["--model", "dalle"], r"argument --model: invalid choice: 'dalle'"),
]


@pytest.mark.parametrize("argv,match", [c[1:] for c in DEMO_CLI], ids=[c[0] for c in DEMO_CLI])
def test_demo_cli(tmp_path, capsys, argv, match):
    from fundiff import demo

    (tmp_path / "file").write_text("not a picture")
    argv = argv(tmp_path)
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "page")]
    exit_2(demo.main, argv, capsys, match)
    assert not (tmp_path / "page").exists()


def test_demo_out_unwritable_exits_2(capsys):
    from fundiff import demo

    assert demo.main(["--out", "/proc/fundiff-demo", "--sections", "A1.1", "--model", "bundled"]) == 2
    assert "--out /proc/fundiff-demo cannot be written" in capsys.readouterr().err


def test_demo_exits_1_when_every_section_fails(tmp_path, capsys):
    """An implementation whose modules all fail to import: every section is in error, so the command
    does not report success."""
    from fundiff import demo

    impl = tmp_path / "broken"
    impl.mkdir()
    for name in ("forward", "denoise", "guidance", "unet", "train"):
        (impl / f"{name}.py").write_text("raise RuntimeError('broken on purpose')\n")
    code = demo.main(["--impl", str(impl), "--out", str(tmp_path / "page"), "--quick", "--sections", "A1.1", "B1.1",
                      "--model", "bundled", "--no-fast"])
    assert code == 1
    assert "every section ended in an error" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The other commands: python -m fundiff.bundled / metrics / bench
# ---------------------------------------------------------------------------------------------
OTHER_CLI = [
    ("bundled train --steps 0", "bundled", ["train", "--steps", "0"], r"argument --steps: must be a positive integer"),
    ("bundled train --lr 0", "bundled", ["train", "--lr", "0"], r"argument --lr: must be a number > 0"),
    ("bundled train --minutes nan", "bundled", ["train", "--minutes", "nan"], r"argument --minutes: must be a finite"),
    ("bundled train --resume nothing", "bundled", ["train", "--resume", "--work", "/nonexistent/work"],
     r"--resume: /nonexistent/work holds no training state"),
    ("bundled quality --n 0", "bundled", ["quality", "--n", "0"], r"argument --n: must be a positive integer"),
    ("bundled quality --gammas nan", "bundled", ["quality", "--gammas", "1", "nan"], r"argument --gammas: must be a finite"),
    ("bundled quality --path missing", "bundled", ["quality", "--path", "/nonexistent/model"],
     r"--path /nonexistent/model: not a bundled model folder"),
    ("bundled bench --repeats 0", "bundled", ["bench", "--repeats", "0"], r"argument --repeats: must be a positive"),
    ("bundled examples --gamma inf", "bundled", ["examples", "--gamma", "inf"], r"argument --gamma: must be a finite"),
    ("metrics partb missing file", "metrics", ["partb", "/nonexistent/w.safetensors"],
     r"/nonexistent/w.safetensors: no such weights file"),
    ("metrics compare missing file", "metrics", ["compare", "/nonexistent/a.safetensors:fast", "/nonexistent/b"],
     r"/nonexistent/a.safetensors: no such weights file"),
    ("metrics --per-digit 0", "metrics", ["check", "--per-digit", "0"], r"argument --per-digit: must be a positive"),
    ("metrics --gamma nan", "metrics", ["check", "--gamma", "nan"], r"argument --gamma: must be a finite"),
    ("metrics check with files", "metrics", ["check", "x.safetensors"], r"check takes no files"),
    ("bench --repeats 0", "bench", ["--repeats", "0"], r"argument --repeats: must be a positive integer"),
    ("bench --threads -2", "bench", ["--threads", "-2"], r"argument --threads: must be a positive integer"),
    ("bench --device tpu", "bench", ["--device", "tpu"], r"argument --device: unknown device"),
]


@pytest.mark.parametrize("module,argv,match", [c[1:] for c in OTHER_CLI], ids=[c[0] for c in OTHER_CLI])
def test_other_cli(capsys, module, argv, match):
    import importlib

    exit_2(importlib.import_module(f"fundiff.{module}").main, argv, capsys, match)


def test_the_tables_hold_at_least_40_bad_inputs_of_our_own():
    tables = [FORWARD, DENOISE, GUIDANCE, TRAIN, UNET, MODELS, LOADER, PICTURES, TRAIN_CLI, DEMO_CLI, OTHER_CLI]
    assert sum(map(len, tables)) >= 40 + 20  # the issue's ~20 cases and more than 40 of our own
    assert all(len({row[0] for row in table}) == len(table) for table in tables), "duplicate ids in a table"
