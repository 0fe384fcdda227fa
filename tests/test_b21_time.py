"""B2.1 — time conditioning: FCBlock, the normalized time t/(T−1), and the time-conditioned UNet."""
from fundiff.grading import about, compare, graded, run_trusted
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import (check_conditioning_matters, check_gradients_reach_every_parameter,
                                          check_module, check_unet_shapes, conditioning_outputs)

HINT = ("FCBlock = Linear(i, o), GELU, Linear(o, o); fc1_t = FCBlock(1, 2D) is added to the Unflatten "
        "output, fc2_t = FCBlock(1, D) to the first UpBlock's output, both as (B, ·, 1, 1)")


@graded("B2.1", points=1, hint=HINT)
def test_fc_block_matches_reference(impl):
    """FCBlock with the reference weights gives the reference output"""
    check_module("B2.1/fc_block", impl)


@graded("B2.1", points=1, hint="t/(T−1) as float32: t = 0 → 0, t = T−1 → 1")
def test_normalize_t_matches_reference(impl):
    """normalize_t maps 0 … T−1 onto [0, 1] as float32"""
    check_case("B2.1/normalize_t", impl)


@graded("B2.1", points=3, hint=HINT)
def test_time_unet_matches_reference(impl):
    """TimeConditionalUNet(1, 8) with the reference weights gives the reference output"""
    check_module("B2.1/time_unet", impl)


@graded("B2.1", points=1, hint="reshape t to (B, 1) inside forward, whatever shape it comes in")
def test_time_unet_takes_t_as_B_or_B1(impl):
    """t of shape (B,) and (B, 1) give the same output, and t changes the output (deterministic weights)"""
    with about("unet.TimeConditionalUNet"):
        got = run_trusted(impl, conditioning_outputs, "time")
        compare("output for t of shape (B, 1) vs (B,)", got["t_B1"], got["out"], atol=1e-6)
    check_conditioning_matters(impl, "time", "other times (1 − t)", "other_t", got)


@graded("B2.1", points=1, hint="batch size is free: nothing may assume B > 1 or a fixed B")
def test_time_unet_output_shape_for_batch_1_and_odd_batches(impl):
    """TimeConditionalUNet maps (B, 1, 28, 28) to (B, 1, 28, 28) for B = 1 and 5"""
    check_unet_shapes(impl, "time")


@graded("B2.1", points=1, hint=HINT)
def test_time_unet_parameter_count(impl):
    """TimeConditionalUNet(1, 64) has the course's number of parameters"""
    check_case("B2.1/param_count", impl)


@graded("B2.1", points=1, hint="every layer created in __init__ must be used in forward")
def test_time_unet_gradients_reach_every_parameter(impl):
    """a backward pass gives every parameter (fc1_t, fc2_t included) a non-zero gradient"""
    check_gradients_reach_every_parameter(impl, "time")
