"""A1.5 — sampling: the loop from pure noise (i_start = 0)."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import gaussian_model, gen

HINT = "x_T = torch.randn(shape, generator=generator) first (on the CPU), then iterative_denoise from i_start = 0"


@graded("A1.5", points=2, hint=HINT)
def test_samples_match_reference(impl):
    """5 samples of the unconditional prompt (seed 180) match the reference"""
    check_case("A1.5/sample", impl)


@graded("A1.5", points=1, hint=HINT)
def test_samples_have_the_data_distribution(impl):
    """samples of the exact Gaussian model have its mean μ and about its std s (34 strided steps
    with the fixed posterior variance come out a little narrower: ≈ 0.46 for s = 0.5)"""
    m = gaussian_model(8)
    x = call(impl, "denoise.sample", m.estimator("ring"), (64, 1, 8, 8), list(range(990, -1, -30)),
             m.alphas_cumprod, gen(1))
    compare("mean of the samples", x.mean(0), m.means["ring"], atol=0.25, rtol=0)
    compare("std of the samples around μ", (x - m.means["ring"]).std().reshape(1), torch.tensor([m.std]),
            atol=0.08, rtol=0)
