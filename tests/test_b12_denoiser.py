"""B1.2 — the one-step denoiser: noising z = x + σε and the L2 loss ‖D(z) − x‖²."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import digits, gaussian

HINT = "z = x + σ·ε; the loss is the mean squared error between D(z) and the CLEAN x (F.mse_loss)"


@graded("B1.2", points=1, hint=HINT)
def test_add_noise_matches_reference(impl):
    """z = x + σε at σ = 0, 0.2, 0.5 and 1"""
    check_case("B1.2/add_noise", impl)


@graded("B1.2", points=2, hint=HINT)
def test_denoiser_loss_matches_reference(impl):
    """the loss and its gradients on a fixed model, with stored noise, match the reference"""
    check_case("B1.2/denoiser_loss", impl)


@graded("B1.2", points=1, hint=HINT)
def test_a_perfect_denoiser_has_zero_loss(impl):
    """a model that returns the clean digits has loss 0; the identity has loss σ²·mean(ε²)"""
    x = digits(3)[0]
    noise = gaussian(x.shape, 90)

    class Perfect(torch.nn.Module):
        def forward(self, z):
            return x

    got = call(impl, "train.denoiser_loss", Perfect(), x, 0.5, noise)
    compare("loss of a perfect denoiser", torch.as_tensor(got).detach().reshape(1), torch.zeros(1), atol=1e-7)
    got = call(impl, "train.denoiser_loss", torch.nn.Identity(), x, 0.5, noise)
    compare("loss of the identity", torch.as_tensor(got).detach().reshape(1),
            (0.25 * noise.square().mean()).reshape(1), atol=1e-6)
