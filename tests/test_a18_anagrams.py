"""A1.8 — visual anagrams: ε = (ε₁(x_t) + view⁻¹(ε₂(view(x_t))))/2, upside down and other views."""
import torch

from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import gaussian, gaussian_model

HINT = ("upside down = reverse the HEIGHT axis (dim −2), not the width (dim −1); ε₂ is computed on view(x_t) and "
        "mapped back with the inverse view before averaging")


@graded("A1.8", points=1, hint=HINT)
def test_flip_upside_down_reverses_the_height(impl):
    """flip_upside_down moves row 0 to the bottom and keeps every row's left-to-right order"""
    x = gaussian((2, 3, 5, 7), 1)
    got = call(impl, "guidance.flip_upside_down", x)
    compare("flipped x", got, x[:, :, torch.arange(4, -1, -1), :])


@graded("A1.8", points=1, hint=HINT)
def test_views_and_their_inverses(impl):
    """each view (flip, rot90, rot180, negate) matches the reference and its inverse undoes it"""
    x = gaussian((2, 1, 6, 6), 2)
    for view, inverse in (("flip_upside_down", "flip_upside_down"), ("rotate90", "rotate270"),
                          ("rotate180", "rotate180"), ("negate", "negate")):
        y = call(impl, f"guidance.{view}", x)
        compare(f"{inverse}({view}(x))", call(impl, f"guidance.{inverse}", y), x, atol=0)
    compare("rotate90(x) (counter-clockwise)", call(impl, "guidance.rotate90", x), x.transpose(-1, -2).flip(-2))
    check_case("A1.8/anagram", impl, keys=["view_flip", "view_rot90", "view_rot180", "view_negate"])


@graded("A1.8", points=2, hint=HINT)
def test_anagrams_match_reference(impl):
    """anagram samples (two CFG prompts) for the flip, rot90, rot180 and negate views match the reference"""
    check_case("A1.8/anagram", impl)


@graded("A1.8", points=1, hint=HINT)
def test_swapping_the_prompts_flips_the_estimate(impl):
    """the anagram of (p₂, p₁) on the flipped x_t is the flipped anagram of (p₁, p₂); with p₁ = p₂ = p it is ε_p on symmetric views"""
    m = gaussian_model(8, learned_variance=True)
    flip = lambda x: call(impl, "guidance.flip_upside_down", x)  # noqa: E731
    e12 = call(impl, "guidance.anagram_estimator", m.estimator("top"), m.estimator("corner"), flip)
    e21 = call(impl, "guidance.anagram_estimator", m.estimator("corner"), m.estimator("top"), flip)
    x = gaussian((2, 1, 8, 8), 3)
    eps12, v12 = e12(x, 400)
    eps21, v21 = e21(x.flip(-2), 400)
    compare("ε of the swapped anagram on the flipped x_t", eps21, eps12.flip(-2), atol=1e-5)
    compare("v of the swapped anagram on the flipped x_t", v21, v12.flip(-2), atol=1e-5)
    e1 = m.estimator("top")
    eps1, _ = e1(x, 400)
    eps2, _ = e1(x.flip(-2), 400)
    eps, _ = call(impl, "guidance.anagram_estimator", e1, e1, flip)(x, 400)
    compare("ε of an anagram of one prompt", eps, (eps1 + eps2.flip(-2)) / 2, atol=1e-5)
