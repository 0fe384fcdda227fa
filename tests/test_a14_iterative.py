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
NOTEBOOK_LOOP = (
    "your loop stops at t = 0, as the course notebook's does (`for i in range(i_start, len(timesteps) - 1)`: its "
    "last step goes from t = 30 to t′ = 0 and returns x at t = 0, which still holds a little noise). fundiff's loop "
    "takes one more step, from t = 0 to the clean image, as diffusers' IFPipeline does. To go on: loop "
    "`for i in range(i_start, len(timesteps))` with t′ = timesteps[i + 1] if i + 1 < len(timesteps) else -1; "
    "the last step is denoise_step(x, eps, v, 0, -1, …) (ᾱ_t′ = 1 at t′ = −1, no noise added), which returns x̂₀; "
    "callback(i, t, x) then also runs for the last i, t = 0")


def stops_at_zero(impl) -> bool:
    """True when the implementation's iterative_denoise follows the notebook's convention: one step
    fewer, stopping after the step to t = 0 (its callbacks stop at t = timesteps[-2], or its final image
    is the reference's image after the step to t = 0)."""
    from fundiff.grading.cases import load_reference, run_case

    m = gaussian_model(8)
    ts = list(range(990, -1, -90))
    seen = []
    try:
        call(impl, "denoise.iterative_denoise", torch.randn((1, 1, 8, 8), generator=gen(0)), m.estimator("corner"),
             ts, 3, m.alphas_cumprod, gen(1), None, lambda i, t, x: seen.append((i, int(t))))
    except GradingError:
        return False
    if seen and seen == [(i, ts[i]) for i in range(3, len(ts) - 1)]:
        return True
    try:
        got, want = run_case("A1.4/iterative", impl), load_reference("A1.4/iterative")
    except Exception:  # noqa: BLE001 - the student's code failed: not this convention
        return False
    final, frames = got.get("final_learned1"), want["frames_learned1"]
    return (isinstance(final, torch.Tensor) and final.shape == frames[-2].shape
            and torch.allclose(final.float(), frames[-2], atol=1e-4, rtol=1e-3))


def check_not_notebook_loop(impl, err: GradingError):
    """Re-raise ``err``, or the notebook-convention message when that is what the loop does."""
    if stops_at_zero(impl):
        raise GradingError(f"{NOTEBOOK_LOOP}\n  hint: {HINT_LOOP}") from None
    raise err


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
    try:
        check_case("A1.4/iterative", impl)
    except GradingError as err:
        check_not_notebook_loop(impl, err)


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
        if seen == [(i, ts[i]) for i in range(3, len(ts) - 1)]:
            raise GradingError(f"callback got (i, t) = {seen}, expected {[(i, ts[i]) for i in range(3, len(ts))]}: "
                               f"{NOTEBOOK_LOOP}\n  hint: {HINT_LOOP}")
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


def test_a_loop_that_stops_at_zero_hears_the_notebook_convention(tmp_path):
    """a student loop written as the course notebook's (`range(i_start, len(timesteps) - 1)`: it stops
    at t = 0) fails both loop tests with the message that says exactly that and how to go on"""
    import shutil

    from fundiff.impl import ROOT, load_impl

    solutions = ROOT / "solutions"
    if not solutions.is_dir():
        pytest.skip("solutions/ withheld")
    folder = tmp_path / "student"
    shutil.copytree(solutions, folder, ignore=shutil.ignore_patterns("__pycache__"))
    src = (folder / "denoise.py").read_text()
    loop = "for i in range(i_start, len(timesteps)):"
    assert src.count(loop) == 1
    (folder / "denoise.py").write_text(src.replace(loop, "for i in range(i_start, len(timesteps) - 1):"))
    impl = load_impl(folder)
    for test in (test_iterative_denoise_matches_reference, test_the_loop_calls_back_once_per_step_and_ends_clean):
        with pytest.raises(GradingError) as err:
            test(impl)
        msg = str(err.value)
        assert "stops at t = 0, as the course notebook's does" in msg, msg
        assert "range(i_start, len(timesteps) - 1)" in msg and "range(i_start, len(timesteps))" in msg, msg
        assert "denoise_step(x, eps, v, 0, -1" in msg, msg
    # a loop that is wrong another way does not hear it
    folder2 = tmp_path / "student2"
    shutil.copytree(folder, folder2, ignore=shutil.ignore_patterns("__pycache__"))
    (folder2 / "denoise.py").write_text(src.replace(loop, "for i in range(i_start + 1, len(timesteps)):"))
    other = load_impl(folder2)
    with pytest.raises(GradingError) as err:
        test_iterative_denoise_matches_reference(other)
    assert "notebook" not in str(err.value)


@graded("A1.4", points=1, hint=HINT_VAR + "; keep the dtype: ᾱ via abar_at(alphas_cumprod, t, like)",
        uses=("denoise.learned_variance", "denoise.fixed_variance", "denoise.denoise_step", "denoise.iterative_denoise"))
def test_variances_and_steps_keep_the_dtype(impl):
    """fixed_variance returns ᾱ's dtype, learned_variance v's, denoise_step and iterative_denoise x's, for float64 and
    bfloat16 inputs (values checked against the float64 formulas)"""
    abar = diffusers_scheduler("fixed_small", list(range(990, -1, -30))).alphas_cumprod.double()
    t, tp = 600, 570
    beta = 1 - abar[t] / abar[tp]
    beta_tilde = (1 - abar[tp]) / (1 - abar[t]) * beta
    got = call(impl, "denoise.fixed_variance", t, tp, abar)
    compare("fixed variance for a float64 ᾱ", torch.as_tensor(got).reshape(1), beta_tilde.reshape(1), atol=1e-9, rtol=1e-6)
    v = torch.tanh(gaussian((2, 1, 4, 4), 21)).double()
    x_t, eps, z = gaussian((2, 1, 4, 4), 22).double(), gaussian((2, 1, 4, 4), 23).double(), gaussian((2, 1, 4, 4), 24).double()
    frac = (v + 1) / 2
    var = torch.exp(frac * beta.log() + (1 - frac) * beta_tilde.log())
    x0_hat = (x_t - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
    mean = abar[tp].sqrt() * beta / (1 - abar[t]) * x0_hat + (1 - beta).sqrt() * (1 - abar[tp]) / (1 - abar[t]) * x_t
    step = mean + var.sqrt() * z
    for dtype, tol in ((torch.float64, 1e-5), (torch.bfloat16, 5e-2)):
        got = call(impl, "denoise.learned_variance", v.to(dtype), t, tp, abar.float())
        compare(f"learned variance for a {dtype} v", got, var.to(dtype), atol=tol * 1e-2, rtol=tol)
        got = call(impl, "denoise.denoise_step", x_t.to(dtype), eps.to(dtype), v.to(dtype), t, tp, abar.float(),
                   z.to(dtype))
        compare(f"denoise_step of {dtype} inputs", got, step.to(dtype), atol=tol, rtol=tol)
    m = gaussian_model(4, learned_variance=True)
    x = gaussian((1, 1, 4, 4), 25).double()
    got = call(impl, "denoise.iterative_denoise", x, m.estimator(""), list(range(990, -1, -90)), 8, m.alphas_cumprod, gen(26))
    compare("dtype of iterative_denoise's result for a float64 x", got, torch.zeros_like(x), atol=float("inf"), rtol=0)
