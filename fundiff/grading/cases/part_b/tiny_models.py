"""The small deterministic models the loss and sampler tests feed to the student's code.

They check what the student feeds them: the time input must be the normalized t / (T − 1) ∈ [0, 1]
of the course's one timestep convention (:func:`check_time_input`), and every call is recorded
(``.calls``) so a test can say what it saw.  :class:`TinyEps` is a tiny ε-model with a BatchNorm,
:class:`OracleEps` the perfect ε-model of one known x₀, :func:`tiny_denoiser` a fixed convolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import GradingError
from .weights import deterministic_state


def check_time_input(t, batch: int) -> torch.Tensor:
    """The (B,) float time input of a UNet, or a GradingError that says what the convention is."""
    if not isinstance(t, torch.Tensor):
        raise GradingError(f"the model was called with t = {t!r} ({type(t).__name__}): expected a "
                           f"float tensor of shape ({batch},) holding t/(T−1)")
    if not t.is_floating_point():
        raise GradingError(f"the model was called with integer timesteps {t.flatten()[:4].tolist()}: the "
                           "UNets take the normalized time t/(T−1) ∈ [0, 1] (normalize_t)")
    if t.numel() != batch or t.ndim > 2:
        raise GradingError(f"the model was called with t of shape {tuple(t.shape)} for a batch of {batch}: "
                           f"expected ({batch},) or ({batch}, 1)")
    t = t.detach().reshape(batch).float()
    if (t < -1e-6).any() or (t > 1 + 1e-6).any():
        raise GradingError(f"the model was called with t = {t[:4].tolist()}: outside [0, 1], so not "
                           "normalized: feed t/(T−1) (normalize_t) in training and in sampling alike")
    return t


class TinyEps(nn.Module):
    """A tiny deterministic ε-model with the UNets' call signature ``(x, t[, c])`` and a BatchNorm
    (so eval() and train() give different outputs):

        h = BN(conv1(x)) + fc_t(t),   h ← h·(1 + fc_c(c)) for a class model,   ε = conv2(GELU(h)).

    Records every call in ``self.calls`` as (t, c or None)."""

    def __init__(self, num_classes: int = 0, seed: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 1, 3, padding=1)
        self.fc_t = nn.Linear(1, 4)
        self.fc_c = nn.Linear(num_classes, 4) if num_classes else None
        self.load_state_dict(deterministic_state(self, seed))
        self.calls = []

    def forward(self, x, t, c=None):
        t = check_time_input(t, x.shape[0])
        if self.fc_c is None and c is not None:
            raise GradingError("the time-conditioned model was called with a class vector c")
        if self.fc_c is not None and c is None:
            raise GradingError("the class-conditioned model was called without its class vector c")
        self.calls.append((t.clone(), None if c is None else c.detach().clone()))
        h = self.bn(self.conv1(x)) + self.fc_t(t[:, None])[:, :, None, None]
        if self.fc_c is not None:
            h = h * (1 + self.fc_c(c.float()))[:, :, None, None]
        return self.conv2(F.gelu(h))


class OracleEps(nn.Module):
    """The ε a perfect model predicts when the data is one known x₀:

        ε = (x_t − √ᾱ_t·x₀) / √(1 − ᾱ_t),  with t read back from the time input t/(T−1).

    With the course's one timestep convention, ddpm_loss of this model is 0 and DDPM sampling with
    it ends exactly at x₀; an off-by-one between the two (or a time input that is not t/(T−1)) is not.
    """

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.register_buffer("x0", x0.clone())
        self.register_buffer("alphas_cumprod", alphas_cumprod.clone())
        self.anchor = nn.Parameter(torch.zeros(()))  # so that next(model.parameters()) works
        self.calls = []

    def forward(self, x, t, c=None):
        T = len(self.alphas_cumprod)
        t = check_time_input(t, x.shape[0])
        k = t.double() * (T - 1)
        if (k - k.round()).abs().max() > 1e-3:
            raise GradingError(f"the model was called with t = {t[:4].tolist()}, which is not k/(T−1) for "
                               f"integer k (T = {T}): normalize with t/(T−1), not t/T")
        k = k.round().long()
        self.calls.append(k.clone())
        abar = self.alphas_cumprod[k].reshape(-1, 1, 1, 1)
        return (x - abar.sqrt() * self.x0) / (1 - abar).sqrt() + 0 * self.anchor


def tiny_denoiser() -> nn.Module:
    """A fixed 1→1 convolution as the one-step denoiser D of the §1.2 loss tests."""
    model = nn.Conv2d(1, 1, 3, padding=1)
    model.load_state_dict(deterministic_state(model, 3))
    return model
