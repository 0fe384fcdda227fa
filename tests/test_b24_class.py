"""B2.4 — class conditioning: the class vector with dropout, the class-conditioned UNet, and the loss."""
from fundiff.grading import graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import (check_conditioning_matters, check_gradients_reach_every_parameter,
                                          check_module, check_unet_shapes)

HINT = ("fc1_c = FCBlock(10, 2D), fc2_c = FCBlock(10, D); h1 ← fc1_c(c)·h1 + fc1_t(t), "
        "u1 ← fc2_c(c)·u1 + fc2_t(t), all as (B, ·, 1, 1)")


@graded("B2.4", points=1, hint="F.one_hot(labels, num_classes).float(), rows where drop is True set to 0")
def test_class_vector_matches_reference(impl):
    """one-hot class vectors, zeroed where the drop mask is True, float32"""
    check_case("B2.4/class_vector", impl)


@graded("B2.4", points=3, hint=HINT)
def test_class_unet_matches_reference(impl):
    """ClassConditionalUNet(1, 10, 8) with the reference weights gives the reference output"""
    check_module("B2.4/class_unet", impl)


@graded("B2.4", points=1, hint=HINT)
def test_class_unet_depends_on_the_class(impl):
    """another class vector, or c = 0, changes the output (deterministic weights: by ~1e-2 of its size, far above float noise)"""
    check_conditioning_matters(impl, "class", "another class (c rolled by one)", "other_c")
    check_conditioning_matters(impl, "class", "c = 0 (no class)", "zero_c")


@graded("B2.4", points=1, hint="batch size is free: nothing may assume B > 1 or a fixed B")
def test_class_unet_output_shape_for_batch_1_and_odd_batches(impl):
    """ClassConditionalUNet maps (B, 1, 28, 28) to (B, 1, 28, 28) for B = 1 and 5"""
    check_unet_shapes(impl, "class")


@graded("B2.4", points=1, hint=HINT)
def test_class_unet_parameter_count(impl):
    """ClassConditionalUNet(1, 10, 64) has the course's number of parameters"""
    check_case("B2.4/param_count", impl)


@graded("B2.4", points=1, hint="every layer created in __init__ must be used in forward")
def test_class_unet_gradients_reach_every_parameter(impl):
    """a backward pass gives every parameter (the four FCBlocks included) a non-zero gradient"""
    check_gradients_reach_every_parameter(impl, "class")


@graded("B2.4", points=2, hint="c = class_vector(labels, drop); ddpm_loss passes c to the model: model(x_t, t/(T−1), c)")
def test_ddpm_loss_with_class_dropout_matches_reference(impl):
    """with stored x₀, noise, t, labels and drop mask, the class-conditioned loss matches the reference"""
    check_case("B2.4/ddpm_loss_class", impl)
