"""A1.4 — iterative denoising with strided timesteps (990, 960, …, 30, 0), learned or fixed variance."""
import pytest
import torch

from fundiff.grading import GradingError, call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import gaussian, gaussian_model, gen

HINT_TS = "range(990, 0, -30) stops at 30: range's end is exclusive, so go to -1 to include t = 0"
HINT_VAR = ("the variance of the step from t to t′ uses ᾱ_t and ᾱ_t′ of the NEXT strided timestep t′ (not t − 1): "
            "β = 1 − ᾱ_t/ᾱ_t′, β̃ = (1 − ᾱ_t′)/(1 − ᾱ_t)·β; learned: log σ² = frac·log β + (1 − frac)·log β̃, "
            "frac = (v + 1)/2")
HINT_LOOP = ("t′ = timesteps[i + 1] (−1 after the last step); per step: est(x, t), then z = randn(x.shape, "
             "generator=generator) on the CPU, then denoise_step, project(x, t′), callback(i, t, x); "
             "no noise when t′ = −1")


def diffusers_scheduler(variance_type: str, timesteps):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", variance_type=variance_type,
                          clip_sample=False, thresholding=False)
    sched.set_timesteps(timesteps=timesteps)
    return sched


@graded("A1.4", points=1, hint=HINT_TS)
def test_strided_timesteps_end_at_zero(impl):
    """the strided timesteps are 990, 960, …, 30, 0: 34 of them, stride 30, ending at 0"""
    ts = list(call(impl, "denoise.strided_timesteps", 990, 30))
    if not ts or ts[-1] != 0:
        raise GradingError(f"strided_timesteps() ends at {ts[-1] if ts else None}, expected 0\n  hint: {HINT_TS}")
    if ts[0] != 990 or any(a - b != 30 for a, b in zip(ts, ts[1:])) or len(ts) != 990 // 30 + 1:
        raise GradingError(f"strided_timesteps() = {ts}: expected 990 down to 0 by 30\n  hint: {HINT_TS}")
    check_case("A1.4/variances", impl, keys=["strided", "strided_100"])


@graded("A1.4", points=1, hint=HINT_VAR)
def test_variances_equal_diffusers(impl):
    """fixed and learned variances equal DDPMScheduler._get_variance (fixed_small, learned_range) for strided steps"""
    ts = list(range(990, -1, -30))
    v = torch.tanh(gaussian((2, 3, 4, 4), 1))
    for vt in ("fixed_small", "learned_range"):
        sched = diffusers_scheduler(vt, ts)
        for t, tp in zip(ts, ts[1:]):
            want = sched._get_variance(t, predicted_variance=v)
            if vt == "fixed_small":
                got = call(impl, "denoise.fixed_variance", t, tp, sched.alphas_cumprod)
                compare(f"fixed variance from t={t} to t′={tp}", torch.as_tensor(got).reshape(1), want.reshape(1),
                        atol=1e-7, rtol=1e-4)
            else:
                got = call(impl, "denoise.learned_variance", v, t, tp, sched.alphas_cumprod)
                compare(f"learned variance from t={t} to t′={tp}", got, want.exp(), atol=1e-7, rtol=1e-4)
    check_case("A1.4/variances", impl)


@graded("A1.4", points=2, hint=HINT_VAR)
def test_each_strided_step_equals_diffusers_step(impl):
    """every step 990 → 960 → … → 0 → (clean) equals DDPMScheduler.step with the same noise, learned_range and fixed_small"""
    ts = list(range(990, -1, -30))
    x_t, eps = gaussian((2, 3, 8, 8), 2), gaussian((2, 3, 8, 8), 3)
    v = torch.tanh(gaussian((2, 3, 8, 8), 4))
    for vt in ("learned_range", "fixed_small"):
        sched = diffusers_scheduler(vt, ts)
        out = torch.cat([eps, v], 1) if vt == "learned_range" else eps
        for i, t in enumerate(ts):
            tp = ts[i + 1] if i + 1 < len(ts) else -1
            want = sched.step(out, t, x_t, generator=gen(100 + i)).prev_sample
            z = torch.randn(x_t.shape, generator=gen(100 + i))
            got = call(impl, "denoise.denoise_step", x_t, eps, v if vt == "learned_range" else None, t, tp,
                       sched.alphas_cumprod, z)
            compare(f"{vt} step from t={t} to t′={tp}", got, want, atol=1e-5, rtol=1e-4)


@graded("A1.4", points=2, hint=HINT_LOOP)
def test_iterative_denoise_matches_reference(impl):
    """the loop from i_start = 10 (t = 690) matches the reference, every frame, learned and fixed variance"""
    check_case("A1.4/iterative", impl)


@graded("A1.4", points=1, hint=HINT_LOOP)
def test_the_loop_calls_back_once_per_step_and_ends_clean(impl):
    """callback(i, t, x) runs for i = i_start … end with t = timesteps[i]; a model that knows x₀ gives x₀ back"""
    m = gaussian_model(8)
    m.std = 1e-3  # the data is (almost) the single image μ: the loop must return it
    ts = list(range(990, -1, -90))
    seen = []
    x = torch.randn((2, 1, 8, 8), generator=gen(0))
    out = call(impl, "denoise.iterative_denoise", x, m.estimator("corner"), ts, 3, m.alphas_cumprod, gen(1), None,
               lambda i, t, x: seen.append((i, int(t))))
    if seen != [(i, ts[i]) for i in range(3, len(ts))]:
        raise GradingError(f"callback got (i, t) = {seen}, expected {[(i, ts[i]) for i in range(3, len(ts))]}"
                           f"\n  hint: {HINT_LOOP}")
    compare("x0 of a model whose data is one image", out, m.means["corner"].expand(2, 1, 8, 8), atol=2e-3, rtol=0)


def test_loop_rejects_bad_timesteps_and_i_start(solutions):
    d = solutions.denoise
    m = gaussian_model(8)
    x = torch.zeros(1, 1, 8, 8)
    for ts, what in (([990, 990, 0], "strictly descending"), ([0, 30], "strictly descending"),
                     ([1000, 0], r"\[0, 1000\)"), ([30, -1], r"\[0, 1000\)"), ([], "empty")):
        with pytest.raises(ValueError, match=what):
            d.iterative_denoise(x, m.estimator(""), ts, 0, m.alphas_cumprod, gen(0))
    for i_start in (-1, 3, 1.5):
        with pytest.raises(ValueError, match="i_start"):
            d.iterative_denoise(x, m.estimator(""), [60, 30, 0], i_start, m.alphas_cumprod, gen(0))


def test_noise_is_drawn_on_the_cpu_so_the_device_does_not_matter(solutions, device):
    """the same seed gives the same result whatever device the loop runs on"""
    m = gaussian_model(8, learned_variance=True)
    ts = list(range(990, -1, -90))
    cpu = solutions.denoise.sample(m.estimator("top"), (2, 1, 8, 8), ts, m.alphas_cumprod, gen(5))
    m.device = device
    m.means = {k: v.to(device) for k, v in m.means.items()}
    dev = solutions.denoise.sample(m.estimator("top"), (2, 1, 8, 8), ts, m.alphas_cumprod, gen(5), device=device)
    assert dev.device.type == device.type
    torch.testing.assert_close(dev.cpu(), cpu, atol=1e-4, rtol=1e-4)
