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


@graded("A1.1", points=1, hint=HINT + "; keep the input's dtype: index ᾱ, then .to(like.dtype)",
        uses=("forward.forward_process", "forward.abar_at"))
def test_forward_process_keeps_the_dtype(impl):
    """abar_at returns like's dtype and forward_process x0's, for float64 and bfloat16 inputs (the values are checked too)"""
    abar = cosine_alphas_cumprod()
    x0 = digit_images(2).double()
    eps = gaussian(x0.shape, 5).double()
    a = abar.double()[300]
    want = a.sqrt() * x0 + (1 - a).sqrt() * eps
    for dtype, tol in ((torch.float64, 1e-5), (torch.bfloat16, 3e-2)):
        got = call(impl, "forward.abar_at", abar, 300, x0.to(dtype))
        compare(f"ᾱ_300 for a {dtype} image", torch.as_tensor(got).reshape(1), a.reshape(1).to(dtype), atol=tol, rtol=tol)
        got = call(impl, "forward.forward_process", x0.to(dtype), eps.to(dtype), 300, abar)
        compare(f"x_t of {dtype} x0 and ε", got, want.to(dtype), atol=tol, rtol=tol)
