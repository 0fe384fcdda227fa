"""B2.5 — classifier-free guidance: ε = ε_u + γ(ε_c − ε_u) with ε_u from c = 0, and guided sampling."""
import torch
import torch.nn.functional as F

from fundiff.grading import GradingError, call, compare, graded
from fundiff.grading.cases import check_case, load_reference
from fundiff.grading.cases.part_b import SAMPLE_SHAPE, TINY_T, TinyEps, gaussian, record_sampling

HINT = "ε_c = model(x, t, c), ε_u = model(x, t, zeros_like(c)), ε = ε_u + γ·(ε_c − ε_u)"


@graded("B2.5", points=2, hint=HINT)
def test_cfg_noise_matches_reference(impl):
    """the guided noise at γ = 0 (= ε_u), 1 (= ε_c) and 5"""
    check_case("B2.5/cfg_noise", impl)


@graded("B2.5", points=1, hint=HINT)
def test_cfg_noise_runs_an_unconditional_pass_with_c_zero(impl):
    """the model is called once with c and once with c = 0 (or once on both, batched)"""
    model = TinyEps(num_classes=10, seed=6).eval()
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    call(impl, "train.cfg_noise", model, gaussian(SAMPLE_SHAPE, 61), torch.tensor([0.0, 0.5, 1.0]), c, 5.0)
    seen = torch.cat([cc for _, cc in model.calls]) if model.calls else torch.zeros(0, 10)
    zero_rows = int((seen.abs().sum(1) == 0).sum())
    if zero_rows < len(c):
        raise GradingError(f"cfg_noise called the model on {len(seen)} rows, {zero_rows} of them with c = 0: "
                           "the unconditional pass must zero the class vector")


@graded("B2.5", points=3, hint=HINT + "; in ddpm_sample, with c given, ε̂ = cfg_noise(model, x, t/(T−1), c, γ)")
def test_guided_sampling_matches_reference_step_by_step(impl):
    """every step of class-conditioned DDPM sampling with CFG (γ = 5) matches the reference"""
    want = load_reference("B2.5/ddpm_sample_cfg")
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    x, steps, ts = record_sampling(impl, TinyEps(num_classes=10, seed=6), c=c, guidance_scale=5.0, seed=8)
    compare("timesteps passed to callback", ts, want["t"], atol=0, rtol=0)
    for i, t in enumerate(want["t"].tolist()):
        compare(f"x after the step at t = {t} (step {i + 1} of {TINY_T})", steps[i], want["steps"][i],
                atol=1e-4, rtol=1e-3)
    compare("the returned sample", x, want["x0"], atol=1e-4, rtol=1e-3)
