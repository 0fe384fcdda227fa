"""B2.2 — DDPM training: the linear β schedule and the ε-prediction loss, on the course's one
timestep convention (t ∈ {0, …, T−1}, ᾱ 0-based, the UNet fed t/(T−1))."""
import torch

from fundiff.grading import GradingError, call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import OracleEps, course_schedule, loss_inputs

HINT = ("x_t = forward_process(x0, eps, t, alphas_cumprod) with the integer t; the model gets "
        "normalize_t(t, T) = t/(T−1); the loss is F.mse_loss(eps_hat, eps)")


@graded("B2.2", points=1, hint="β = torch.linspace(β₁, β₂, T), α = 1 − β, ᾱ = torch.cumprod(α, 0), float32")
def test_ddpm_schedule_matches_reference(impl):
    """β, α and ᾱ for the course's schedule (1e-4, 0.02, T = 300) and another one"""
    check_case("B2.2/ddpm_schedule", impl)


@graded("B2.2", points=2, hint=HINT)
def test_ddpm_loss_matches_reference(impl):
    """with stored x₀, noise and t, the loss, its gradient and the time the model sees match the reference"""
    check_case("B2.2/ddpm_loss", impl)


@graded("B2.2", points=2, hint=HINT + "; the same t indexes ᾱ and goes (normalized) to the model")
def test_ddpm_loss_of_a_perfect_model_is_zero(impl):
    """a model that predicts the true ε for the time it is given has loss 0 (training's timestep convention)"""
    x0, _, t, eps = loss_inputs()
    abar = course_schedule()["alphas_cumprod"]
    oracle = OracleEps(x0, abar)
    loss = call(impl, "train.ddpm_loss", oracle, x0, t, eps, abar)
    seen = torch.cat(oracle.calls) if oracle.calls else torch.tensor([])
    if not torch.equal(seen, t):
        raise GradingError(f"ddpm_loss fed the model the times {seen.tolist()} (read back as integers) for "
                           f"the timesteps t = {t.tolist()}: feed normalize_t(t, T)")
    compare("ddpm_loss of a perfect ε-model", torch.as_tensor(loss).detach().float().reshape(1),
            torch.zeros(1), atol=1e-6, rtol=0)
