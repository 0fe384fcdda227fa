"""The fast path (fundiff.fast): bf16-close outputs in float32, the model's eval/train semantics,
the solution samplers unchanged, and `--no-fast` equal to plain float32.  Framework tests (ungraded)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fundiff import fast
from fundiff.fast import FastModel, fast_model, fuse_for_inference, precision
from fundiff.impl import ImplError, load_impl

try:
    S = load_impl("solutions")
except ImplError:
    pytest.skip("solutions/ is not present", allow_module_level=True)
BF16_RTOL = 0.05  # relative L2 error allowed for bfloat16 (8-bit mantissa) through a dozen convs


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


def trained_unet(hidden=8, seed=0):
    """A small class-conditioned UNet whose BatchNorms hold non-trivial running statistics."""
    torch.manual_seed(seed)
    m = S.unet.ClassConditionalUNet(1, 10, hidden)
    with torch.no_grad():
        for p in m.modules():
            if isinstance(p, nn.BatchNorm2d):
                p.weight.uniform_(0.5, 1.5)
                p.bias.uniform_(-0.2, 0.2)
        m.train()
        for _ in range(3):
            m(torch.randn(16, 1, 28, 28) * 2 + 0.3, torch.rand(16), F.one_hot(torch.randint(0, 10, (16,)), 10).float())
    return m.eval()


def inputs(b=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 1, 28, 28, generator=g), torch.rand(b, generator=g),
            F.one_hot(torch.arange(b) % 10, 10).float())


def test_folding_is_exact_in_float32():
    """The fused copy (BN folded into the conv, activation as post-op) computes the same function:
    checked in float32, where only summation order differs."""
    m = trained_unet()
    fused, n = fuse_for_inference(m)
    assert n == 17  # every Conv/ConvTranspose → BN → GELU run of the UNet (the head conv has none)
    x, t, c = inputs()
    with torch.no_grad():
        want = m(x, t, c)
        got = fused(x.contiguous(memory_format=torch.channels_last), t, c)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert not any(isinstance(k, nn.BatchNorm2d) for k in fused.modules())
    assert all(p.requires_grad for p in m.parameters()), "fusing must leave the model alone"


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_fast_model_close_to_float32_and_returns_float32(mode):
    m = trained_unet()
    ref = copy.deepcopy(m)
    getattr(m, mode)()
    getattr(ref, mode)()
    fm = fast_model(m)
    x, t, c = inputs()
    with torch.no_grad():
        want = ref(x, t, c)
        got = fm(x, t, c)
    assert got.dtype == torch.float32 and got.shape == want.shape and got.is_contiguous()
    assert rel_err(got, want) < BF16_RTOL
    if fast.bf16_supported("cpu"):
        assert rel_err(got, want) > 0, "the fast path should really run in bfloat16 here"


def test_eval_train_semantics_follow_the_model():
    m = trained_unet().train()
    fm = fast_model(m)
    assert fm.training and m.training
    fm.eval()
    assert not m.training and not fm.training
    m.train()  # set on the model directly: the wrapper follows
    x, t, c = inputs()
    bn = m.inp[0][1]
    before = bn.running_mean.clone()
    with torch.no_grad():
        fm(x, t, c)
    assert not torch.equal(bn.running_mean, before), "train() mode must update BatchNorm statistics"
    m.eval()
    before = bn.running_mean.clone()
    with torch.no_grad():
        fm(x, t, c)
    assert torch.equal(bn.running_mean, before), "eval() mode must not touch BatchNorm statistics"
    assert list(fm.state_dict()) == list(m.state_dict())
    assert [id(p) for p in fm.parameters()] == [id(p) for p in m.parameters()]


def test_gradients_reach_the_float32_parameters():
    m = trained_unet().train()
    fm = fast_model(m)
    x, t, c = inputs()
    loss = F.mse_loss(fm(x, t, c), torch.zeros_like(x))
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in m.parameters())


def test_fused_copy_is_rebuilt_when_the_weights_change():
    m = trained_unet()
    fm = fast_model(m)
    x, t, c = inputs()
    with torch.no_grad():
        a = fm(x, t, c)
        m.head.bias.add_(1.0)  # an in-place change, as an optimizer step makes
        b = fm(x, t, c)
    torch.testing.assert_close(b - a, torch.ones_like(a), atol=0.05, rtol=0)


def test_solution_samplers_run_unchanged_on_the_fast_model():
    """Part B's ddpm_sample (with CFG) takes the wrapper as it is; it puts it in eval() and back."""
    m = trained_unet().train()
    ref = copy.deepcopy(m)
    schedule = S.train.ddpm_schedule(1e-4, 0.02, 6)
    c = F.one_hot(torch.arange(4), 10).float()
    fm = fast_model(m)
    got = S.train.ddpm_sample(fm, (4, 1, 28, 28), schedule, torch.Generator().manual_seed(0), c=c)
    want = S.train.ddpm_sample(ref, (4, 1, 28, 28), schedule, torch.Generator().manual_seed(0), c=c)
    assert m.training, "ddpm_sample restores train() mode through the wrapper"
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert rel_err(got, want) < BF16_RTOL


def test_no_fast_is_plain_float32():
    """enabled=False is the model itself and precision(…, False) changes nothing: bit-identical."""
    from fundiff.train import precision_context

    m = trained_unet()
    assert fast_model(m, enabled=False) is m
    x, t, c = inputs()
    abar = S.train.ddpm_schedule()["alphas_cumprod"]
    tt = torch.tensor([0, 50, 100, 150, 200, 299])
    with torch.no_grad():
        want = S.train.ddpm_loss(m, x, tt, x * 0.5, abar, c)
        with precision_context(torch.device("cpu"), False):
            assert not torch.is_autocast_enabled("cpu")
            got = S.train.ddpm_loss(m, x, tt, x * 0.5, abar, c)
        with precision("cpu", enabled=False):
            assert not torch.is_autocast_enabled("cpu")
    assert torch.equal(got, want)


def test_precision_uses_bf16_only_where_native():
    ctx = precision("cpu")
    with ctx:
        on = torch.is_autocast_enabled("cpu")
    assert on == fast.bf16_supported("cpu")
    if on:
        assert fast.fast_dtype("cpu") == torch.bfloat16


def test_pretrained_model_gets_its_unet_wrapped_in_nchw_when_it_has_groupnorm():
    class Pretrained:  # the shape of a fundiff.models model: an object with a `unet` module
        def __init__(self):
            self.device = torch.device("cpu")
            self.unet = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.SiLU(),
                                      nn.Conv2d(8, 1, 3, padding=1)).eval()

    pm = Pretrained()
    fpm = fast_model(pm)
    assert fpm is not pm and fpm.unet.model is pm.unet and isinstance(fpm.unet, FastModel)
    assert not fpm.unet.channels_last
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        got, want = fpm.unet(x), pm.unet(x)
    assert got.dtype == torch.float32 and rel_err(got, want) < BF16_RTOL
    assert fast_model(pm, enabled=False) is pm
