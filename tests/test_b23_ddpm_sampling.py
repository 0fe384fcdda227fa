"""B2.3 — DDPM sampling: one step t → t−1 with the fixed variance β_t, and the loop from x_{T−1} ~ N(0, I)
down to t = 0, checked step by step with a fixed CPU generator on a tiny deterministic model."""
import torch

from fundiff.grading import GradingError, call, compare, graded
from fundiff.grading.cases import check_case, load_reference
from fundiff.grading.cases.part_b import (TINY_T, OracleEps, TinyEps, digits, gaussian,
                                          record_sampling, tiny_schedule)

STEP_HINT = ("x̂₀ = estimate_x0(x_t, ε̂, t, ᾱ); x_{t−1} = posterior_mean(x̂₀, x_t, t, t − 1, ᾱ) + √β_t·z, "
             "with z = 0 at t = 0")
SAMPLE_HINT = ("x = randn(shape, generator) first; then for t = T−1 … 0: ε̂ = model(x, t/(T−1)), "
               "z = randn(shape, generator), x = ddpm_step(...), callback(t, x); model.eval() while sampling")


@graded("B2.3", points=2, hint=STEP_HINT)
def test_ddpm_step_matches_reference(impl):
    """x_{t−1} at t = T−1, T/2, 1 and 0 with stored x_t, ε̂ and z"""
    check_case("B2.3/ddpm_step", impl)


@graded("B2.3", points=1, hint=STEP_HINT)
def test_ddpm_step_adds_no_noise_at_t0(impl):
    """the last step (t = 0) returns x̂₀ whatever z is, and earlier steps do use z"""
    shape = (2, 1, 5, 5)
    x_t, eps, z = gaussian(shape, 53), gaussian(shape, 54), gaussian(shape, 55)
    s = tiny_schedule()
    a = call(impl, "train.ddpm_step", x_t, eps, 0, s, z)
    b = call(impl, "train.ddpm_step", x_t, eps, 0, s, 3 * z + 1)
    compare("x at t = 0 with another z", b, a, atol=1e-6, hint="no noise at the last step (t = 0)")
    a = call(impl, "train.ddpm_step", x_t, eps, 5, s, z)
    b = call(impl, "train.ddpm_step", x_t, eps, 5, s, 3 * z + 1)
    if torch.allclose(a, b):
        raise GradingError("ddpm_step at t = 5 ignores z: add √β_t·z for t > 0")


@graded("B2.3", points=3, hint=SAMPLE_HINT)
def test_ddpm_sample_matches_reference_step_by_step(impl):
    """every step of DDPM sampling (T = 12, tiny model, fixed CPU generator) matches the reference"""
    want = load_reference("B2.3/ddpm_sample")
    x, steps, ts = record_sampling(impl, TinyEps(seed=5))
    compare("timesteps passed to callback", ts, want["t"], atol=0, rtol=0,
            hint="callback(t, x) after each step, t = T−1 … 0 (T calls)")
    for i, t in enumerate(want["t"].tolist()):
        compare(f"x after the step at t = {t} (step {i + 1} of {TINY_T})", steps[i], want["steps"][i],
                atol=1e-4, rtol=1e-3)
    compare("the returned sample", x, want["x0"], atol=1e-4, rtol=1e-3)


@graded("B2.3", points=2, hint="model.eval() before the loop, model.train(was_training) after (try/finally)")
def test_ddpm_sample_runs_the_model_in_eval_mode_and_restores_it(impl):
    """sampling uses eval() (BatchNorm's running statistics stay untouched) and restores the model's mode"""
    want = load_reference("B2.3/ddpm_sample")
    for start_in_train in (True, False):
        model = TinyEps(seed=5).train(start_in_train)
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        x, _, _ = record_sampling(impl, model)
        if model.training != start_in_train:
            raise GradingError(f"ddpm_sample left the model in {'train' if model.training else 'eval'}() mode; "
                               f"it was in {'train' if start_in_train else 'eval'}() mode before: restore it")
        changed = [k for k, v in model.named_buffers() if not torch.equal(v, buffers[k])]
        if changed:
            raise GradingError(f"sampling changed the BatchNorm statistics {changed}: the model ran in "
                               "train() mode; call model.eval() before sampling")
        compare("the sample", x, want["x0"], atol=1e-4, rtol=1e-3)


@graded("B2.3", points=2, hint="train and sample on one convention: t ∈ {0 … T−1}, ᾱ_t = alphas_cumprod[t], "
                             "the model fed t/(T−1), the last step at t = 0")
def test_sampling_with_a_perfect_model_ends_at_x0(impl):
    """with a model that knows x₀ exactly, DDPM sampling visits t = T−1 … 0 once and returns x₀"""
    x0 = digits(2)[0]
    s = tiny_schedule()
    oracle = OracleEps(x0, s["alphas_cumprod"])
    x = call(impl, "train.ddpm_sample", oracle, tuple(x0.shape), s, torch.Generator().manual_seed(9))
    seen = [int(k[0]) for k in oracle.calls]
    if seen != list(range(TINY_T - 1, -1, -1)):
        raise GradingError(f"the model saw the timesteps {seen}: expected T−1, …, 0 = {TINY_T - 1}, …, 0, "
                           "each once, fed as t/(T−1)")
    compare("the sample of a perfect model", x, x0, atol=1e-4, rtol=0)
