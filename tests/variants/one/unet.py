

# ----- correct variants (tests/variants/one) ------------------------------------------------------

def fc_block(in_features, out_features):
    """The same layers, listed in a tuple first."""
    layers = (nn.Linear(in_features, out_features), nn.GELU(), nn.Linear(out_features, out_features))
    return nn.Sequential(*layers)


def _features(self, x, scale1=1.0, shift1=0.0, scale2=1.0, shift2=0.0):
    """The UNet pass with torch.concat and the modulations as torch.add(h·scale, shift)."""
    check_unet_input(x, self.in_channels)
    a = self.inp(x)
    b = self.down1(a)
    c = self.down2(b)
    h1 = torch.add(self.unflatten(self.flatten(c)) * scale1, shift1)
    u1 = torch.add(self.up1(torch.concat((c, h1), 1)) * scale2, shift2)
    return self.head(self.out(torch.concat((a, self.up2(torch.concat((b, u1), 1))), 1)))


UNet.features = _features


def _time_forward(self, x, t):
    """t as (B, 1) with unsqueeze when it is (B,)."""
    t = (t.unsqueeze(-1) if t.ndim == 1 else t).to(x.dtype)
    return self.features(x, shift1=self.fc1_t(t)[..., None, None], shift2=self.fc2_t(t)[..., None, None])


TimeConditionalUNet.forward = _time_forward
