"""B2.4 — class conditioning: the class vector with dropout, the class-conditioned UNet, and the loss."""
import torch

from fundiff.grading import GradingError, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import (build_unet, check_gradients_reach_every_parameter, check_module,
                                          check_unet_shapes, run_module, unet_inputs)

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
    """another class vector (or c = 0) changes the output"""
    module = build_unet(impl, "class", 4).eval()
    x, t, c = unet_inputs("class", 3)
    with torch.no_grad():
        a = run_module(impl, module, x, t, c)
        b = run_module(impl, module, x, t, c.roll(1, dims=1))
        z = run_module(impl, module, x, t, torch.zeros_like(c))
    if torch.allclose(a, b) or torch.allclose(a, z):
        raise GradingError("ClassConditionalUNet ignores c: the output is the same for another class")


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
