"""Part B §1.1, §2.1, §2.4 — the UNet denoisers of MNIST digits (1×28×28).

Every block is a small function returning an ``nn.Sequential``; the three networks share one
encoder/decoder (:class:`UNet`) and differ only in how they modulate two feature maps:

    h1 = Unflatten(Flatten(c))                (B, 2D, 7, 7)
    u1 = UpBlock(cat(c, h1))                  (B, D, 14, 14)

    unconditional:      h1, u1 unchanged
    time-conditioned:   h1 ← h1 + t1,          u1 ← u1 + t2           (t1 = fc1_t(t), t2 = fc2_t(t))
    class-conditioned:  h1 ← c1·h1 + t1,       u1 ← c2·u1 + t2        (c1 = fc1_c(c), c2 = fc2_c(c))

Parameter names are part of the exercise contract: reference weights are loaded into your module
with ``load_state_dict(strict=True)``, so keep the attribute names and the order inside each
``nn.Sequential`` exactly as the docstrings say.
"""
import numbers

import torch
from torch import nn


# ---------------------------------------------------------------------------------------------
# Checks of the arguments (given: not an exercise)
# ---------------------------------------------------------------------------------------------

def check_width(v, name: str) -> int:
    """ValueError unless ``v`` is a positive int (a number of channels, features or classes)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


def check_unet_input(x, in_channels: int) -> None:
    """ValueError unless x is a (B, in_channels, H, W) floating tensor with H, W multiples of 28."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != in_channels \
            or x.shape[2] % 28 or x.shape[3] % 28 or not x.shape[2]:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"the UNet takes x of shape (B, {in_channels}, 28, 28) (MNIST digits), got {got}")
    if not x.is_floating_point():
        raise ValueError(f"the UNet takes floating-point images, got {x.dtype}: use x.float()")


def check_time_input(t, batch: int) -> None:
    """ValueError unless t is a (B,) or (B, 1) floating tensor (normalized time in [0, 1])."""
    if not isinstance(t, torch.Tensor) or t.numel() != batch or t.ndim not in (1, 2) \
            or (t.ndim == 2 and t.shape[1] != 1):
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"t must be a ({batch},) tensor of normalized times t/(T−1) in [0, 1], got {got}")
    if not t.is_floating_point():
        raise ValueError(f"t must be the normalized time t/(T−1) (float), got a {t.dtype} tensor: use normalize_t(t, T)")


def check_class_input(c, batch: int, num_classes: int) -> None:
    """ValueError unless c is a (B, num_classes) tensor (one-hot class vectors, or zeros)."""
    if not isinstance(c, torch.Tensor) or tuple(c.shape) != (batch, num_classes):
        got = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(f"c must be a ({batch}, {num_classes}) tensor of class vectors (class_vector), got {got}")


def conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv = Conv2d(k3, s1, p1) → BatchNorm2d → GELU.  (B, i, H, W) → (B, o, H, W)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: Conv2d(in, out, 3, 1, 1), BatchNorm2d(out), GELU() in an nn.Sequential
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.GELU()
    )
    # END SOLUTION


def down_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """DownConv = Conv2d(k3, s2, p1) → BatchNorm2d → GELU.  (B, i, H, W) → (B, o, H/2, W/2)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: Conv2d(in, out, 3, 2, 1), BatchNorm2d(out), GELU() in an nn.Sequential
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 2, 1), nn.BatchNorm2d(out_channels), nn.GELU()
    )
    # END SOLUTION


def up_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """UpConv = ConvTranspose2d(k4, s2, p1) → BatchNorm2d → GELU.  (B, i, H, W) → (B, o, 2H, 2W)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: ConvTranspose2d(in, out, 4, 2, 1), BatchNorm2d(out), GELU()
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
    )
    # END SOLUTION


def flatten() -> nn.Sequential:
    """Flatten = AvgPool2d(7) → GELU.  (B, C, 7, 7) → (B, C, 1, 1)."""
    # BEGIN SOLUTION B1.1: AvgPool2d(7), GELU()
    return nn.Sequential(nn.AvgPool2d(7), nn.GELU())
    # END SOLUTION


def unflatten(channels: int) -> nn.Sequential:
    """Unflatten = ConvTranspose2d(k7, s7, p0) → BatchNorm2d → GELU.  (B, C, 1, 1) → (B, C, 7, 7)."""
    check_width(channels, "channels")
    # BEGIN SOLUTION B1.1: ConvTranspose2d(C, C, 7, 7, 0), BatchNorm2d(C), GELU()
    return nn.Sequential(
        nn.ConvTranspose2d(channels, channels, 7, 7, 0), nn.BatchNorm2d(channels), nn.GELU()
    )
    # END SOLUTION


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """ConvBlock = Conv(i→o) → Conv(o→o).  (B, i, H, W) → (B, o, H, W)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: nn.Sequential(conv(in, out), conv(out, out))
    return nn.Sequential(conv(in_channels, out_channels), conv(out_channels, out_channels))
    # END SOLUTION


def down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """DownBlock = DownConv(i→o) → ConvBlock(o→o).  (B, i, H, W) → (B, o, H/2, W/2)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: nn.Sequential(down_conv(in, out), conv_block(out, out))
    return nn.Sequential(down_conv(in_channels, out_channels), conv_block(out_channels, out_channels))
    # END SOLUTION


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """UpBlock = UpConv(i→o) → ConvBlock(o→o).  (B, i, H, W) → (B, o, 2H, 2W)."""
    check_width(in_channels, "in_channels"), check_width(out_channels, "out_channels")
    # BEGIN SOLUTION B1.1: nn.Sequential(up_conv(in, out), conv_block(out, out))
    return nn.Sequential(up_conv(in_channels, out_channels), conv_block(out_channels, out_channels))
    # END SOLUTION


def fc_block(in_features: int, out_features: int) -> nn.Sequential:
    """FCBlock = Linear(i→o) → GELU → Linear(o→o).  (B, i) → (B, o)."""
    check_width(in_features, "in_features"), check_width(out_features, "out_features")
    # BEGIN SOLUTION B2.1: nn.Sequential(Linear(in, out), GELU(), Linear(out, out))
    return nn.Sequential(
        nn.Linear(in_features, out_features), nn.GELU(), nn.Linear(out_features, out_features)
    )
    # END SOLUTION


class UNet(nn.Module):
    """The unconditional UNet of §1.1, (B, C, 28, 28) → (B, C, 28, 28).

    Attributes (names are the contract), with D = num_hiddens:
        inp       = conv_block(C, D)       → a   (B, D, 28, 28)
        down1     = down_block(D, D)       → b   (B, D, 14, 14)
        down2     = down_block(D, 2D)      → c   (B, 2D, 7, 7)
        flatten   = flatten()              →     (B, 2D, 1, 1)
        unflatten = unflatten(2D)          → h1  (B, 2D, 7, 7)
        up1       = up_block(4D, D)        on cat(c, h1)  → u1 (B, D, 14, 14)
        up2       = up_block(2D, D)        on cat(b, u1)  →    (B, D, 28, 28)
        out       = conv_block(2D, D)      on cat(a, ·)   →    (B, D, 28, 28)
        head      = nn.Conv2d(D, C, 3, 1, 1)              →    (B, C, 28, 28)
    Concatenation is always along channels with the skip first: ``torch.cat([skip, h], dim=1)``.
    """

    def __init__(self, in_channels: int = 1, num_hiddens: int = 128):
        super().__init__()
        self.in_channels = check_width(in_channels, "in_channels")
        D = check_width(num_hiddens, "num_hiddens (the width D)")
        # BEGIN SOLUTION B1.1: create the nine attributes listed in the class docstring
        self.inp = conv_block(in_channels, D)
        self.down1 = down_block(D, D)
        self.down2 = down_block(D, 2 * D)
        self.flatten = flatten()
        self.unflatten = unflatten(2 * D)
        self.up1 = up_block(4 * D, D)
        self.up2 = up_block(2 * D, D)
        self.out = conv_block(2 * D, D)
        self.head = nn.Conv2d(D, in_channels, 3, 1, 1)
        # END SOLUTION

    def features(self, x, scale1=1.0, shift1=0.0, scale2=1.0, shift2=0.0):
        """The UNet pass with the two modulations of §2.1/§2.4:
        h1 ← scale1·h1 + shift1 (after Unflatten), u1 ← scale2·u1 + shift2 (after the first UpBlock).

        x: (B, C, 28, 28); scale1, shift1: (B, 2D, 1, 1) or scalars; scale2, shift2: (B, D, 1, 1)
        or scalars.  Returns (B, C, 28, 28).
        """
        check_unet_input(x, self.in_channels)
        # BEGIN SOLUTION B1.1: encoder a, b, c; h1 = unflatten(flatten(c)); modulate; decoder with skips
        a = self.inp(x)
        b = self.down1(a)
        c = self.down2(b)
        h1 = self.unflatten(self.flatten(c)) * scale1 + shift1
        u1 = self.up1(torch.cat([c, h1], dim=1)) * scale2 + shift2
        u2 = self.up2(torch.cat([b, u1], dim=1))
        return self.head(self.out(torch.cat([a, u2], dim=1)))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """D(x): (B, C, 28, 28) → (B, C, 28, 28)."""
        return self.features(x)


class TimeConditionalUNet(UNet):
    """§2.1: the UNet with t ∈ [0, 1] (normalized: t_int / (T − 1)) injected twice, predicting ε.

    Extra attributes: fc1_t = fc_block(1, 2D), fc2_t = fc_block(1, D).
    forward(x: (B, C, 28, 28), t: (B,) or (B, 1) in [0, 1]) → (B, C, 28, 28):
        h1 ← h1 + fc1_t(t),  u1 ← u1 + fc2_t(t)
    """

    def __init__(self, in_channels: int = 1, num_hiddens: int = 64):
        super().__init__(in_channels, num_hiddens)
        D = num_hiddens
        # BEGIN SOLUTION B2.1: fc1_t = fc_block(1, 2D), fc2_t = fc_block(1, D)
        self.fc1_t = fc_block(1, 2 * D)
        self.fc2_t = fc_block(1, D)
        # END SOLUTION

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_unet_input(x, self.in_channels)
        check_time_input(t, x.shape[0])
        # BEGIN SOLUTION B2.1: t → (B, 1); add fc1_t(t) and fc2_t(t) as (B, ·, 1, 1) shifts
        t = t.reshape(-1, 1).to(x.dtype)
        t1 = self.fc1_t(t)[:, :, None, None]
        t2 = self.fc2_t(t)[:, :, None, None]
        return self.features(x, shift1=t1, shift2=t2)
        # END SOLUTION


class ClassConditionalUNet(UNet):
    """§2.4: the UNet conditioned on t ∈ [0, 1] and a class vector c (one-hot over num_classes, or
    all zeros for "no class"), predicting ε.

    Extra attributes: fc1_t = fc_block(1, 2D), fc2_t = fc_block(1, D),
                      fc1_c = fc_block(num_classes, 2D), fc2_c = fc_block(num_classes, D).
    forward(x: (B, C, 28, 28), t: (B,) in [0, 1], c: (B, num_classes)) → (B, C, 28, 28):
        h1 ← fc1_c(c)·h1 + fc1_t(t),  u1 ← fc2_c(c)·u1 + fc2_t(t)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, num_hiddens: int = 64):
        super().__init__(in_channels, num_hiddens)
        D = num_hiddens
        self.num_classes = check_width(num_classes, "num_classes")
        # BEGIN SOLUTION B2.4: the four fc blocks of the class docstring
        self.fc1_t = fc_block(1, 2 * D)
        self.fc2_t = fc_block(1, D)
        self.fc1_c = fc_block(num_classes, 2 * D)
        self.fc2_c = fc_block(num_classes, D)
        # END SOLUTION

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        check_unet_input(x, self.in_channels)
        check_time_input(t, x.shape[0])
        check_class_input(c, x.shape[0], self.num_classes)
        # BEGIN SOLUTION B2.4: scale by the class blocks, shift by the time blocks
        t = t.reshape(-1, 1).to(x.dtype)
        c = c.to(x.dtype)
        return self.features(
            x,
            scale1=self.fc1_c(c)[:, :, None, None],
            shift1=self.fc1_t(t)[:, :, None, None],
            scale2=self.fc2_c(c)[:, :, None, None],
            shift2=self.fc2_t(t)[:, :, None, None],
        )
        # END SOLUTION
