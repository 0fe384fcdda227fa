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


@pytest.fixture(params=["measured", "float32", "bfloat16"])
def cpu_dtype(request, monkeypatch):
    """Each CPU precision the fast path can choose (FUNDIFF_CPU_FAST_DTYPE), and the measured choice."""
    if request.param == "measured":
        monkeypatch.delenv(fast.CPU_DTYPE_ENV, raising=False)
    else:
        if request.param == "bfloat16" and not fast.bf16_supported("cpu"):
            pytest.skip("no native bfloat16 on this CPU")
        monkeypatch.setenv(fast.CPU_DTYPE_ENV, request.param)
    return fast.fast_dtype("cpu") or torch.float32


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_fast_model_close_to_float32_and_returns_float32(mode, cpu_dtype):
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
    if cpu_dtype == torch.bfloat16:
        assert BF16_RTOL > rel_err(got, want) > 1e-4, "the fast path should really run in bfloat16 here"
    else:
        assert rel_err(got, want) < 1e-5, "float32 fast path: the same function up to summation order"


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


def test_precision_uses_bf16_only_where_native_and_faster(monkeypatch):
    """bfloat16 autocast only with native bf16: for channels_last networks where bf16 convolutions
    measured faster than float32, for NCHW (GroupNorm) ones wherever native; the environment
    variable fixes the choice, and a bad value is a clear error."""
    def autocast_on(**kw):
        with precision("cpu", **kw):
            return torch.is_autocast_enabled("cpu")

    monkeypatch.delenv(fast.CPU_DTYPE_ENV, raising=False)
    speedup = fast.cpu_bf16_speedup()
    assert (speedup > 0) == fast.bf16_supported("cpu")
    assert autocast_on() == (fast.bf16_supported("cpu") and speedup >= fast.BF16_MIN_SPEEDUP)
    assert autocast_on(channels_last=False) == fast.bf16_supported("cpu")
    assert autocast_on() == (fast.fast_dtype("cpu") == torch.bfloat16)
    monkeypatch.setenv(fast.CPU_DTYPE_ENV, "float32")
    assert not autocast_on() and not autocast_on(channels_last=False) and fast.fast_dtype("cpu") is None
    monkeypatch.setenv(fast.CPU_DTYPE_ENV, "bfloat16")
    assert autocast_on() == fast.bf16_supported("cpu") == autocast_on(channels_last=False)
    monkeypatch.setenv(fast.CPU_DTYPE_ENV, "float16")
    with pytest.raises(ValueError, match="FUNDIFF_CPU_FAST_DTYPE must be 'bfloat16' or 'float32'"):
        fast.fast_dtype("cpu")
    assert not autocast_on(enabled=False)


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


def test_bundled_unet_runs_traced_once_per_signature_and_matches_float32():
    """The bundled (diffusers) UNet on the fast path runs a TorchScript trace of its inference copy
    (bf16 where native): the same predictions as float32 up to bf16 rounding, one trace per input
    signature, a new trace when the weights change, and the eager path for calls it does not cover
    (return_dict=True)."""
    from fundiff.models import load_pretrained

    pm = load_pretrained("bundled", device="cpu")
    fpm = fast_model(pm)
    unet = fpm.unet
    g = torch.Generator().manual_seed(0)
    for b in (5, 2, 5):
        x = torch.randn(b, 1, 28, 28, generator=g)
        labels = torch.arange(b) % 11
        with torch.no_grad():
            want = pm.unet(x, 500, class_labels=labels, return_dict=False)[0]
            got = unet(x, 500, class_labels=labels, return_dict=False)[0]
        assert got.dtype == torch.float32 and rel_err(got, want) < BF16_RTOL
    assert len(unet._traced) == 2 and not unet._trace_failed
    with torch.no_grad():
        eager = unet(x, 500, class_labels=labels).sample  # return_dict=True: not traced
    assert rel_err(eager, want) < BF16_RTOL and len(unet._traced) == 2
    with torch.no_grad():
        for p in pm.unet.parameters():
            p.mul_(1.01)
        unet(x, 500, class_labels=labels, return_dict=False)
    assert len(unet._traced) == 1, "a change of the weights must drop the old traces"
    eps_fast, _ = fpm.estimator("7")(x, 300)
    eps, _ = pm.estimator("7")(x, 300)
    assert rel_err(eps_fast, eps) < BF16_RTOL


# ---------------------------------------------------------------------------------------------
# CPUKernels: the same function on a faster kernel (training on the CPU fast path)
# ---------------------------------------------------------------------------------------------

def nhwc(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gelu_nhwc_is_the_contiguous_kernel(dtype):
    """Same values and gradients as PyTorch's GELU on the NCHW-contiguous tensor (bit for bit: the
    same vectorized kernel), output channels_last."""
    x = nhwc(4, 16, 7, 7, dtype=dtype).requires_grad_(True)
    g = nhwc(4, 16, 7, 7, seed=1, dtype=dtype)
    y = fast.gelu_nhwc(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.dtype == dtype
    (gx,) = torch.autograd.grad(y, x, g)
    xc = x.detach().contiguous().requires_grad_(True)
    yc = F.gelu(xc)
    (gxc,) = torch.autograd.grad(yc, xc, g.contiguous())
    assert torch.equal(y, yc) and torch.equal(gx, gxc)
    x64 = x.detach().double()
    torch.testing.assert_close(y.double(), F.gelu(x64), atol=1e-6 if dtype == torch.float32 else 0.02, rtol=0.01)


def test_cat_channels_nhwc_gives_channels_last_gradients():
    a, b = nhwc(3, 4, 5, 5).requires_grad_(True), nhwc(3, 6, 5, 5, seed=1).requires_grad_(True)
    y = fast.cat_channels_nhwc([a, b])
    assert torch.equal(y, torch.cat([a, b], 1)) and y.is_contiguous(memory_format=torch.channels_last)
    g = nhwc(3, 10, 5, 5, seed=2)
    ga, gb = torch.autograd.grad(y, (a, b), g)
    assert torch.equal(ga, g[:, :4]) and torch.equal(gb, g[:, 4:])
    assert ga.is_contiguous(memory_format=torch.channels_last) and gb.is_contiguous(memory_format=torch.channels_last)


def test_unflatten_conv_transpose_as_matmul():
    """ConvTranspose2d(k = stride = 7, no padding) on a 1×1 input is one matrix product: the same
    values and gradients (float32 up to summation order)."""
    torch.manual_seed(0)
    ct = nn.ConvTranspose2d(12, 12, 7, 7, 0)
    x = torch.randn(5, 12, 1, 1, requires_grad=True)
    want = ct(x)
    got = fast.conv_transpose_1x1_as_matmul(x, ct.weight, ct.bias)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(want)
    want_g = torch.autograd.grad(want, (x, ct.weight, ct.bias), g)
    got_g = torch.autograd.grad(got, (x, ct.weight, ct.bias), g)
    for a, b in zip(got_g, want_g):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_cpu_kernels_route_only_what_they_can():
    """Inside the fast CPU context the three ops are rerouted (counted); NCHW tensors, other dims,
    other conv-transposes pass through to PyTorch unchanged."""
    from fundiff.fast import training as kernels  # where CPUKernels looks them up

    calls = []
    orig = {n: getattr(kernels, n) for n in ("gelu_nhwc", "cat_channels_nhwc", "conv_transpose_1x1_as_matmul")}
    try:
        for n, f in orig.items():
            setattr(kernels, n, lambda *a, _f=f, _n=n, **k: (calls.append(_n), _f(*a, **k))[1])
        with fast.CPUKernels():
            F.gelu(nhwc(2, 3, 4, 4))
            F.gelu(torch.randn(2, 3, 4, 4))                        # NCHW: passes through
            torch.cat([nhwc(2, 3, 4, 4), nhwc(2, 2, 4, 4)], dim=1)
            torch.cat([nhwc(2, 3, 4, 4), nhwc(2, 3, 4, 4)], dim=0)  # not channels: passes through
            F.conv_transpose2d(torch.randn(2, 4, 1, 1), torch.randn(4, 3, 7, 7), None, 7)
            F.conv_transpose2d(torch.randn(2, 4, 3, 3), torch.randn(4, 3, 4, 4), None, 2, 1)  # passes through
    finally:
        for n, f in orig.items():
            setattr(kernels, n, f)
    assert calls == ["gelu_nhwc", "cat_channels_nhwc", "conv_transpose_1x1_as_matmul"]


def test_fast_training_step_matches_plain_step():
    """One training step of the class UNet on the fast path (bf16 autocast, channels_last, the
    rerouted kernels) gives the plain float32 step's loss and gradients up to bf16 rounding."""
    torch.manual_seed(0)
    plain = S.unet.ClassConditionalUNet(1, 10, 16)
    fastm = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    x, t, c = inputs(32)
    eps = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    plain_loss = F.mse_loss(plain(x, t, c), eps)
    with precision("cpu", True, training=True):
        fast_loss = F.mse_loss(fastm(x.contiguous(memory_format=torch.channels_last), t, c).float(), eps)
    plain_loss.backward()
    fast_loss.backward()
    assert abs(fast_loss.item() - plain_loss.item()) < 0.02 * plain_loss.item()
    gp = torch.cat([p.grad.flatten() for p in plain.parameters()])
    gf = torch.cat([p.grad.flatten() for p in fastm.parameters()])
    assert gf.dtype == torch.float32 and rel_err(gf, gp) < (BF16_RTOL if fast.fast_dtype("cpu") else 1e-4)


# ---------------------------------------------------------------------------------------------
# Float32Conditioning: the time and class vectors stay float32 on the fast path
# ---------------------------------------------------------------------------------------------

def colliding_timesteps(T=300):
    """Two neighbouring normalized timesteps t/(T−1) that round to the same bfloat16 value."""
    t = torch.arange(T) / (T - 1)
    k = next(k for k in range(T - 1) if t[k].bfloat16() == t[k + 1].bfloat16())
    return t[k:k + 2]


def test_linear_float32_is_float32_linear_rounded_once():
    """Inside autocast, linear_float32 = F.linear in float32 (from the float32 inputs), returned in
    autocast's dtype (so the gradient arriving from its output is bfloat16, as anywhere under autocast),
    with float32 gradients to the weights; plain autocast merges the two timesteps."""
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(1, 32)
    t = colliding_timesteps().reshape(2, 1).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast.linear_float32(t, lin.weight, lin.bias)
        y_autocast = lin(t)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, F.linear(t, lin.weight, lin.bias).bfloat16())
    assert not torch.equal(y[0], y[1]) and torch.equal(y_autocast[0], y_autocast[1])
    w = torch.randn(2, 32, generator=g)
    gw, gt = torch.autograd.grad((y.float() * w).sum(), (lin.weight, t))
    w16 = w.bfloat16().float()  # the output gradient as it arrives through the bfloat16 output
    want_gw, want_gt = torch.autograd.grad((F.linear(t, lin.weight, lin.bias) * w16).sum(), (lin.weight, t))
    assert gw.dtype == torch.float32
    torch.testing.assert_close(gw, want_gw, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(gt, want_gt, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
def test_fast_path_tells_neighbouring_timesteps_apart(training):
    """Under precision() (training and sampling) the UNet's time blocks see float32 t: two
    timesteps that collide in bfloat16 give different embeddings (F.linear on 2-D inputs is
    rerouted; 4-D activations and 3-D inputs are not)."""
    torch.manual_seed(0)
    m = S.unet.TimeConditionalUNet(1, 8)
    t = colliding_timesteps().reshape(2, 1)
    with precision("cpu", True, training=training):
        emb = m.fc1_t(t)
        seq = F.linear(torch.randn(2, 3, 4), torch.randn(5, 4))  # (B, L, in): autocast's own
    assert not torch.equal(emb[0], emb[1])
    if fast.fast_dtype("cpu") is not None:
        assert emb.dtype == torch.bfloat16 and seq.dtype == torch.bfloat16
    fm = fast_model(m.eval())
    x = torch.randn(1, 1, 28, 28).expand(2, -1, -1, -1)
    with torch.no_grad():
        y = fm(x, t.flatten())
    assert not torch.equal(y[0], y[1]), "the fused inference copy must see float32 t too"


# ---------------------------------------------------------------------------------------------
# CUDA: the same fast path on the GPU's own mixed precision
# ---------------------------------------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_fast_path_on_cuda_samples_and_trains():
    m = trained_unet().cuda()
    x, t, c = (a.cuda() for a in inputs())
    with torch.no_grad():
        want = m(x, t, c)
        got = fast_model(m, "cuda")(x, t, c)
    assert got.dtype == torch.float32 and got.device.type == "cuda"
    assert rel_err(got, want) < BF16_RTOL
    m.train()
    with precision("cuda", True, training=True):
        loss = F.mse_loss(m(x, t, c), torch.zeros_like(x))
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in m.parameters())


@cuda
def test_train_cli_runs_on_cuda(tmp_path):
    from dataclasses import replace

    from fundiff import train as T

    cfg = replace(T.COURSE["class"], epochs=1, hidden=8, batch_size=64, sample_epochs=())
    model = T.train(cfg, tmp_path / "run", device="cuda", limit=256, progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert (tmp_path / "run" / "epoch_001.safetensors").is_file()


def test_fast_is_the_default_on_the_cpu_only():
    """On by default where it pays (the CPU); on CUDA only when asked (measured slower there)."""
    from fundiff.train import parse_args

    assert fast.default_enabled("cpu") and not fast.default_enabled("cuda")
    assert parse_args(["class"]).fast is None  # resolved by default_enabled(--device)
    assert parse_args(["class", "--no-fast"]).fast is False and parse_args(["class", "--fast"]).fast is True

