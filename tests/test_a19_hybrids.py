"""A1.9 — hybrid images: ε = lowpass(ε₁) + highpass(ε₂), Gaussian 33 / σ 2 at 64 px, scaled with the size."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import gaussian, gaussian_model

HINT = ("highpass = x − lowpass(x) (so lowpass + highpass = x); the kernel is 33 with σ = 2 at 64 px: scale both "
        "by image_size / 64 (kernel odd: 2·round(16·s) + 1); lowpass of ε₁ (far) plus highpass of ε₂ (close)")


@graded("A1.9", points=1, hint=HINT)
def test_lowpass_plus_highpass_is_the_identity(impl):
    """lowpass(ε) + highpass(ε) = ε, and the lowpass is the Gaussian blur"""
    x = gaussian((2, 3, 16, 16), 1)
    low = call(impl, "guidance.lowpass", x, 9, 1.5)
    high = call(impl, "guidance.highpass", x, 9, 1.5)
    compare("lowpass + highpass", low + high, x, atol=1e-5)
    import torchvision.transforms.functional as TF

    compare("lowpass", low, TF.gaussian_blur(x, [9, 9], [1.5, 1.5]), atol=1e-6)


@graded("A1.9", points=1, hint=HINT)
def test_kernel_scales_with_the_image_size(impl):
    """hybrid_kernel gives (33, 2) at 64 px and scales kernel and σ with the size (reference for 8 … 256 px)"""
    k, s = call(impl, "guidance.hybrid_kernel", 64)
    compare("(kernel, σ) at 64 px", torch.tensor([float(k), float(s)]), torch.tensor([33.0, 2.0]), atol=0)
    for size in (16, 128):
        k2, s2 = call(impl, "guidance.hybrid_kernel", size)
        compare(f"σ at {size} px", torch.tensor([float(s2)]), torch.tensor([2.0 * size / 64]), atol=1e-6)
        if int(k2) % 2 != 1:
            compare(f"kernel at {size} px (must be odd)", torch.tensor([float(k2)]), torch.tensor([float(k2) + 1]))
    check_case("A1.9/hybrid", impl, keys=["kernels", "lowpass", "highpass"])


@graded("A1.9", points=2, hint=HINT)
def test_hybrid_matches_reference_and_splits_the_frequencies(impl):
    """hybrid samples match the reference; the hybrid of one prompt with itself is that prompt's estimator"""
    check_case("A1.9/hybrid", impl)
    m = gaussian_model(16, learned_variance=True)
    x = gaussian((2, 1, 16, 16), 2)
    e = m.estimator("ring")
    eps, v = call(impl, "guidance.hybrid_estimator", e, e)(x, 300)
    want_eps, want_v = e(x, 300)
    compare("ε of the hybrid of one prompt", eps, want_eps, atol=1e-5)
    compare("v of the hybrid of one prompt", v, want_v, atol=1e-5)
