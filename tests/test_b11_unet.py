"""B1.1 — the UNet: its blocks and the unconditional network, with reference weights loaded into
your modules (so names and layer order are checked along with the numbers)."""
import pytest

from fundiff.grading import graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_b import (check_gradients_reach_every_parameter, check_module,
                                          check_unet_shapes)

HINT = ("Conv = Conv2d(k3,s1,p1)+BN+GELU, DownConv = Conv2d(k3,s2,p1)+BN+GELU, UpConv = "
        "ConvTranspose2d(k4,s2,p1)+BN+GELU, Flatten = AvgPool2d(7)+GELU, Unflatten = "
        "ConvTranspose2d(k7,s7,p0)+BN+GELU, in that order inside each nn.Sequential")
UNET_HINT = ("skips a (28²), b (14²), c (7²); cat([skip, h], dim=1) with the skip first; "
             "up1 on cat(c, unflatten(flatten(c))), up2 on cat(b, u1), out on cat(a, u2), then head")

BLOCKS = ["conv", "down_conv", "up_conv", "flatten", "unflatten", "conv_block", "down_block", "up_block"]


@pytest.mark.parametrize("block", BLOCKS)
@graded("B1.1", points=0.5, hint=HINT)
def test_block_matches_reference(impl, block):
    """each block, with the reference weights loaded, gives the reference output in eval() and train() mode"""
    check_module(f"B1.1/{block}", impl)


@graded("B1.1", points=3, hint=UNET_HINT)
def test_unet_matches_reference(impl):
    """UNet(1, 8) with the reference weights gives the reference output in eval() and train() mode"""
    check_module("B1.1/unet", impl)


@graded("B1.1", points=1, hint="batch size is free: nothing in the UNet may assume B > 1 or a fixed B")
def test_unet_output_shape_for_batch_1_and_odd_batches(impl):
    """UNet maps (B, 1, 28, 28) to (B, 1, 28, 28) for B = 1 and 5, in train() and eval() mode"""
    check_unet_shapes(impl, "unet")


@graded("B1.1", points=1, hint=UNET_HINT)
def test_unet_parameter_count(impl):
    """UNet(1, 128) has the course's number of parameters"""
    check_case("B1.1/param_count", impl)


@graded("B1.1", points=1, hint="every layer created in __init__ must be used in forward")
def test_unet_gradients_reach_every_parameter(impl):
    """a backward pass gives every parameter of the UNet a non-zero gradient"""
    check_gradients_reach_every_parameter(impl, "unet")
