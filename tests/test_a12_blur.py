"""A1.2 — classical denoising with a Gaussian blur."""
import pytest
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import digit_images, gaussian

HINT = ("torchvision.transforms.functional.gaussian_blur(x, [k, k], [σ, σ]); best_blur keeps the pair with "
        "the smallest mean squared error to the clean x0 (kernel sizes in the outer loop)")


@graded("A1.2", points=1, hint=HINT)
def test_blur_matches_reference(impl):
    """the blurs of the test image at t = 250, 500, 750 and the best (kernel, σ) match the reference"""
    check_case("A1.2/blur", impl)


@graded("A1.2", points=1, hint=HINT)
def test_blur_keeps_the_mean_and_best_blur_beats_every_other(impl):
    """blurring keeps a constant image constant, and best_blur's error is the smallest of its grid"""
    const = torch.full((1, 3, 16, 16), 0.25)
    compare("blur of a constant image", call(impl, "denoise.gaussian_blur", const, 7, 2.0), const, atol=1e-6)
    x0 = digit_images(1)
    x = x0 + 0.4 * gaussian(x0.shape, 3)
    k, s, y = call(impl, "denoise.best_blur", x, x0, [3, 7], [0.5, 2.0])
    errs = [((call(impl, "denoise.gaussian_blur", x, kk, ss) - x0) ** 2).mean() for kk in (3, 7) for ss in (0.5, 2.0)]
    compare("MSE of best_blur's result", ((y - x0) ** 2).mean().reshape(1), torch.stack(errs).min().reshape(1),
            atol=1e-7, fn="denoise.best_blur")


def test_blur_rejects_an_even_kernel(solutions):
    with pytest.raises(ValueError, match="odd"):
        solutions.denoise.gaussian_blur(torch.zeros(1, 1, 8, 8), 4, 1.0)
