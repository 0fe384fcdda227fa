"""fundiff.negative_prompt: CFG away from a second prompt, ε = ε_u + γ(ε_c − ε_u) − β(ε_n − ε_u)."""
import pytest
import torch

from fundiff.impl import load_impl
from fundiff.negative_prompt import negative_cfg_estimator


def estimators(seed: int = 0):
    """Three stand-in estimators whose ε are fixed random fields of x_t's shape (and a v for the first)."""
    g = torch.Generator().manual_seed(seed)
    eps = [torch.randn(2, 3, 4, 4, generator=g) for _ in range(3)]
    v = torch.randn(2, 3, 4, 4, generator=g)
    calls = []

    def make(k):
        def est(x_t, t):
            calls.append(k)
            return x_t + eps[k], (v if k == 0 else None)
        return est

    return [make(k) for k in range(3)], eps, v, calls


def test_no_negative_scale_is_the_courses_cfg_and_does_not_ask_the_negative_prompt():
    (c, u, n), eps, v, calls = estimators()
    x, t = torch.zeros(2, 3, 4, 4), torch.tensor([990, 990])
    want, want_v = load_impl("solutions").guidance.cfg_estimator(c, u, 7.0)(x, t)
    calls.clear()
    got, got_v = negative_cfg_estimator(c, u, n, 7.0, 0.0)(x, t)
    assert torch.allclose(got, want) and got_v is v and want_v is v
    assert 2 not in calls


def test_the_negative_prompt_is_pushed_away_as_the_equation_says_and_as_cfg_of_cfg():
    """the same ε three ways: the equation written out, and the course's CFG applied twice
    (cfg(cfg(est_c, est_n, γ/(γ−β)), est_u, γ−β) expands to the same ε); β's sign matters"""
    cfg = load_impl("solutions").guidance.cfg_estimator
    (c, u, n), eps, v, _ = estimators(1)
    x, t = torch.randn(2, 3, 4, 4), torch.tensor([500, 20])
    gamma, beta = 10.0, 3.0
    got, got_v = negative_cfg_estimator(c, u, n, gamma, beta)(x, t)
    e_c, e_u, e_n = (x + e for e in eps)
    assert torch.allclose(got, e_u + gamma * (e_c - e_u) - beta * (e_n - e_u), atol=1e-5)
    nested, _ = cfg(cfg(c, n, gamma / (gamma - beta)), u, gamma - beta)(x, t)
    assert torch.allclose(got, nested, atol=1e-4) and got_v is v
    towards, _ = negative_cfg_estimator(c, u, n, gamma, -beta)(x, t)
    assert not torch.allclose(got, towards, atol=1e-2)


@pytest.mark.parametrize("args, err, msg", [
    ((None, "u", "n"), TypeError, r"est_cond: expected an estimator"),
    (("c", "u", 3), TypeError, r"est_neg: expected an estimator"),
    (("c", "u", "n", float("nan")), ValueError, r"guidance_scale \(γ\): expected a finite number"),
    (("c", "u", "n", 7.0, "3"), ValueError, r"negative_scale \(β\): expected a finite number, got '3'"),
    (("c", "u", "n", 7.0, True), ValueError, r"negative_scale \(β\): expected a finite number, got True"),
])
def test_bad_arguments_say_what_was_expected(args, err, msg):
    est = lambda x_t, t: (x_t, None)  # noqa: E731
    args = tuple(est if isinstance(a, str) and a in "cun" and len(a) == 1 else a for a in args)
    with pytest.raises(err, match=msg):
        negative_cfg_estimator(*args)
