"""A1.7 — image-to-image translation: SDEdit (web and hand-drawn images, text-conditional) and inpainting."""
import pytest
import torch

from fundiff.grading import GradingError, call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import center_mask, drawing, gaussian, gaussian_model, gen, small_digits

HINT_SDEDIT = ("draw ε = randn(x_orig.shape, generator=generator) first, noise x_orig to t = timesteps[i_start] "
               "(not t = i_start) with forward_process, then iterative_denoise from i_start")
HINT_INPAINT = ("re-noise the original to the current t′ with forward_process(x_orig, ε, t′) and fresh ε from the "
                "generator: pasting x_orig clean is the classic mistake; m = 1 where new content goes: "
                "m·x + (1 − m)·x_orig_noised")


@graded("A1.7", points=2, hint=HINT_SDEDIT)
def test_sdedit_matches_reference(impl):
    """SDEdit of a test image and a hand-drawn one at i_start ∈ {1, 3, 5, 7, 10}, unconditional and text-conditional"""
    check_case("A1.7/sdedit", impl)


@graded("A1.7", points=1, hint=HINT_SDEDIT)
def test_sdedit_starts_from_the_noised_image(impl):
    """SDEdit = forward_process to timesteps[i_start] with the first draw of the generator, then the loop"""
    m = gaussian_model(16)
    ts = list(range(990, -1, -60))
    x = drawing(16)
    g = gen(4)
    eps = torch.randn(x.shape, generator=g)
    x_t = call(impl, "forward.forward_process", x, eps, ts[5], m.alphas_cumprod)
    want = call(impl, "denoise.iterative_denoise", x_t, m.estimator(""), ts, 5, m.alphas_cumprod, g)
    got = call(impl, "guidance.sdedit", x, m.estimator(""), ts, 5, m.alphas_cumprod, gen(4))
    compare("sdedit at i_start=5", got, want, atol=1e-5)


@graded("A1.7", points=2, hint=HINT_INPAINT)
def test_projection_renoises_the_original_to_the_current_t(impl):
    """the projection keeps the masked-in x and puts the original re-noised to t′ elsewhere (clean only at t′ = −1)"""
    m = gaussian_model(16)
    x_orig, mask = small_digits(2, 16), center_mask(16)
    x = gaussian(x_orig.shape, 1)
    for t_prev in (600, 30, 0, -1):
        project = call(impl, "guidance.inpaint_projection", x_orig, mask, m.alphas_cumprod, gen(t_prev + 10))
        got = project(x, t_prev)
        eps = torch.randn(x.shape, generator=gen(t_prev + 10))
        abar = m.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
        want = mask * x + (1 - mask) * (abar.sqrt() * x_orig + (1 - abar).sqrt() * eps)
        compare(f"projected x at t′={t_prev}", got, want, atol=1e-5)


@graded("A1.7", points=2, hint=HINT_INPAINT, uses=("guidance.inpaint",))
def test_inpainting_matches_reference_and_keeps_the_original(impl):
    """inpainting matches the reference; after every step the kept region is the original re-noised (exactly x_orig at the end)"""
    out = check_case("A1.7/inpaint", impl)
    x_orig, keep = torch.cat([small_digits(1, 16), drawing(16)]), (center_mask(16) == 0).expand(2, 1, 16, 16)
    compare("kept region of the result", out["inpainted"][keep], x_orig[keep], atol=1e-5)
    frames = out["frames"]
    resid = (frames[:-1] - x_orig)[:, keep]
    if resid.abs().max() < 1e-3:
        raise GradingError(f"the kept region equals x_orig before the last step\n  hint: {HINT_INPAINT}",
                           function="guidance.inpaint")


@graded("A1.7", points=1, hint=HINT_INPAINT)
def test_inpainting_with_an_empty_mask_returns_the_original(impl):
    """with mask = 0 everywhere, inpainting gives back the original image"""
    m = gaussian_model(16)
    x = drawing(16)
    got = call(impl, "guidance.inpaint", x, torch.zeros(16, 16), m.estimator("ring"), list(range(990, -1, -90)),
               m.alphas_cumprod, gen(0))
    compare("inpainting with an empty mask", got, x, atol=1e-5)


def test_bad_masks_and_i_start_are_clear_errors(solutions):
    g = solutions.guidance
    m = gaussian_model(16)
    x = drawing(16)
    with pytest.raises(ValueError, match="does not broadcast"):
        g.inpaint_projection(x, torch.ones(1, 1, 8, 8), m.alphas_cumprod, gen(0))
    with pytest.raises(ValueError, match="does not broadcast"):
        g.inpaint(x, torch.ones(2, 1, 16, 16), m.estimator(""), [60, 30, 0], m.alphas_cumprod, gen(0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        g.inpaint_projection(x, 2 * torch.ones(16, 16), m.alphas_cumprod, gen(0))
    with pytest.raises(ValueError, match="i_start"):
        g.sdedit(x, m.estimator(""), [60, 30, 0], 3, m.alphas_cumprod, gen(0))


def test_inpainting_composes_with_sdedit(solutions):
    """a projection passed to sdedit keeps the original region (SDEdit + inpainting)"""
    g = solutions.guidance
    m = gaussian_model(16)
    x, mask = drawing(16), center_mask(16)
    project = g.inpaint_projection(x, mask, m.alphas_cumprod, gen(1))
    y = g.sdedit(x, m.estimator("ring"), list(range(990, -1, -90)), 4, m.alphas_cumprod, gen(2), project=project)
    keep = mask.expand_as(x) == 0
    torch.testing.assert_close(y[keep], x[keep])
