"""Classifier-free guidance away from a second prompt: a *negative prompt*, beyond the course's §1.6.

Composable Diffusion's "NOT" (Liu et al., 2022, "Compositional Visual Generation with Composable
Diffusion Models") adds to CFG's push towards the prompt a push away from another one:

    ε = ε_u + γ · (ε_c − ε_u) − β · (ε_n − ε_u),

ε_c, ε_u, ε_n the estimates with the prompt, the null prompt and the negative prompt.  β = 0 is plain
CFG.  (diffusers' ``negative_prompt`` puts ε_n in place of ε_u instead, which is β = γ − 1 with the
null prompt gone.)

The emoji model's pizza ↔ fire anagram uses it: the fire, seen upside down, is also guided away from
the pizza, so fewer of its samples are a pizza slice both ways up (data/emoji/README.md).
"""
from __future__ import annotations

import math


def negative_cfg_estimator(est_cond, est_uncond, est_neg, guidance_scale: float = 7.0,
                           negative_scale: float = 0.0):
    """CFG towards ``est_cond``'s prompt and away from ``est_neg``'s:

        ε = ε_u + γ · (ε_c − ε_u) − β · (ε_n − ε_u),   ε_c, v_c = est_cond(x_t, t),
        ε_u = est_uncond(x_t, t)[0],   ε_n = est_neg(x_t, t)[0],

    γ = ``guidance_scale``, β = ``negative_scale`` (β = 0: the course's CFG, and est_neg is not
    called).  ε, x_t: (B, C, H, W); v is the conditional pass's v_c.  Returns est(x_t, t) -> (ε, v_c).
    """
    for f, name in ((est_cond, "est_cond"), (est_uncond, "est_uncond"), (est_neg, "est_neg")):
        if not callable(f):
            raise TypeError(f"{name}: expected an estimator est(x_t, t) -> (eps, v), got {type(f).__name__}")
    for v, name in ((guidance_scale, "guidance_scale (γ)"), (negative_scale, "negative_scale (β)")):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v!r}")

    def est(x_t, t):
        eps_c, v_c = est_cond(x_t, t)
        eps_u, _ = est_uncond(x_t, t)
        eps = eps_u + guidance_scale * (eps_c - eps_u)
        if negative_scale:
            eps = eps - negative_scale * (est_neg(x_t, t)[0] - eps_u)
        return eps, v_c

    return est
