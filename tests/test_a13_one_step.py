"""A1.3 — one-step denoising x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import cosine_alphas_cumprod, gaussian, gaussian_model, noisy

HINT = "x̂0 = (x_t − sqrt(1 − abar_t)·eps) / sqrt(abar_t) with abar_t = alphas_cumprod[t]; a (B,) t broadcasts as (B, 1, 1, 1)"


@graded("A1.3", points=1, hint=HINT)
def test_one_step_matches_reference(impl):
    """x̂₀ at t = 250, 500, 750 matches the reference"""
    check_case("A1.3/one_step", impl)


@graded("A1.3", points=1, hint=HINT)
def test_one_step_equals_diffusers_pred_original_sample(impl):
    """x̂₀ equals DDPMScheduler.step(...).pred_original_sample (an independent implementation)"""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    x_t, eps = gaussian((2, 3, 8, 8), 1), gaussian((2, 3, 8, 8), 2)
    for t in (999, 500, 37, 0):
        want = sched.step(eps, t, x_t, generator=torch.Generator().manual_seed(0)).pred_original_sample
        got = call(impl, "denoise.estimate_x0", x_t, eps, t, sched.alphas_cumprod)
        compare(f"x̂0 at t={t}", got, want, atol=1e-4, rtol=1e-4)


@graded("A1.3", points=1, hint=HINT)
def test_one_step_with_the_exact_noise_is_the_posterior_mean(impl):
    """with the exact E[ε|x_t] of Gaussian data, x̂₀ is the exact E[x₀|x_t]"""
    m = gaussian_model(8)
    x0 = m.means["ring"] + m.std * gaussian((3, 1, 8, 8), 4)
    for t in (100, 600, 950):
        x_t = noisy(x0, t, m.alphas_cumprod, t)
        eps, _ = m.estimator("ring")(x_t, t)
        compare(f"x̂0 at t={t}", call(impl, "denoise.estimate_x0", x_t, eps, t, m.alphas_cumprod),
                m.posterior_x0(x_t, t, "ring"), atol=1e-4, rtol=1e-4)
    # and with the true noise it recovers x0 exactly
    abar = cosine_alphas_cumprod()
    eps = gaussian(x0.shape, 9)
    x_t = abar[400].sqrt() * x0 + (1 - abar[400]).sqrt() * eps
    compare("x̂0 from the true noise", call(impl, "denoise.estimate_x0", x_t, eps, 400, abar), x0, atol=1e-5)
