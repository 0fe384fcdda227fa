"""A1.1 — the forward process x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import cosine_alphas_cumprod, gaussian, digit_images

HINT = "x_t = sqrt(abar_t)·x0 + sqrt(1 − abar_t)·eps with abar = alphas_cumprod[t] (0-based); a (B,) t must broadcast as (B, 1, 1, 1)"


@graded("A1.1", points=3, hint=HINT)
def test_forward_process_matches_reference(impl):
    """x_t matches the reference at t = 0, 250, 500, 750, 999 and for a batch of timesteps"""
    check_case("A1.1/forward_process", impl)


@graded("A1.1", points=1, hint=HINT)
def test_forward_process_keeps_the_signal_variance(impl):
    """with ε ~ N(0, I) and x₀ ~ N(0, I), x_t has unit variance at every t"""
    abar = cosine_alphas_cumprod()
    x0, eps = gaussian((4, 3, 64, 64), 2), gaussian((4, 3, 64, 64), 3)
    for t in (10, 500, 990):
        x_t = call(impl, "forward.forward_process", x0, eps, t, abar)
        compare(f"std of x_t at t={t}", x_t.std().reshape(1), torch.ones(1), atol=0.03, rtol=0)


@graded("A1.1", points=1, hint=HINT)
def test_forward_process_matches_diffusers_add_noise(impl):
    """x_t equals diffusers' DDPMScheduler.add_noise (an independent implementation)"""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    x0 = digit_images(2)
    eps = gaussian(x0.shape, 4)
    t = torch.tensor([37, 640])
    want = sched.add_noise(x0, eps, t)
    got = call(impl, "forward.forward_process", x0, eps, t, sched.alphas_cumprod.float())
    compare("x_t", got, want, atol=1e-5)
