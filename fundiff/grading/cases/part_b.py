"""Reference cases of Part B (unet.py, train.py), and the small deterministic models its graded
tests feed to the student's losses and samplers.

Weights never come from ``torch``'s global RNG: :func:`deterministic_state` fills a module's
state dict from CPU generators seeded by the parameter names, so a reference depends only on the
names and shapes of the parameters (the exercise contract).  The UNet cases store those weights
next to their outputs (keys ``w/<parameter name>``); the graded tests load them into the student's
module with ``load_state_dict(strict=True)`` (:func:`load_strict`) and compare the outputs.

The models of the loss and sampler tests (:class:`TinyEps`, :class:`OracleEps`) check what the
student feeds them: the time input must be the normalized t / (T − 1) ∈ [0, 1] of the course's one
timestep convention, and every call is recorded (``.calls``) so a test can say what it saw.
"""
from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn

from ...data import load_digits
from .. import GradingError, _student_frames, call, compare
from . import case, load_reference

# The tiny schedule of the step and sampler tests: few steps, large enough β that every step matters.
TINY_T, TINY_BETA1, TINY_BETA2 = 12, 1e-3, 0.2


def gaussian(shape, seed: int) -> torch.Tensor:
    """N(0, I) float32 of ``shape`` from a CPU generator seeded with ``seed``."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def digits(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out digits in [0, 1] (n, 1, 28, 28) of different classes, and their labels (n,)."""
    x, y = load_digits("heldout")
    idx = torch.arange(n) * 50 + torch.arange(n) % 7  # one digit of each class 0, 1, 2, …
    return x[idx], y[idx]


def linear_schedule(num_ts: int, beta1: float, beta2: float) -> dict:
    """An input schedule for the step/sampler tests ({'betas', 'alphas', 'alphas_cumprod'}),
    built here so that those tests do not depend on the student's ddpm_schedule."""
    betas = torch.linspace(beta1, beta2, num_ts, dtype=torch.float32)
    return {"betas": betas, "alphas": 1 - betas, "alphas_cumprod": torch.cumprod(1 - betas, 0)}


def tiny_schedule() -> dict:
    return linear_schedule(TINY_T, TINY_BETA1, TINY_BETA2)


def course_schedule() -> dict:
    return linear_schedule(300, 1e-4, 0.02)


# --------------------------------------------------------------------------------------------
# Deterministic weights and strict loading
# --------------------------------------------------------------------------------------------

def deterministic_state(module: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A full state dict for ``module`` that depends only on its names, shapes and ``seed``:
    every entry is drawn from a CPU generator seeded by (seed, name).  Weights ~ N(0, 1/fan_in),
    biases ~ 0.1·N(0, 1), BatchNorm scales 1 + 0.2·N(0, 1), running means 0.1·N(0, 1), running
    variances in [0.5, 2]; integer buffers are kept."""
    state = {}
    for name, value in module.state_dict().items():
        if not value.is_floating_point():
            state[name] = value.clone()
            continue
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        shape = tuple(value.shape)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_var":
            v = 0.5 + 1.5 * torch.rand(shape, generator=gen)
        elif leaf == "running_mean" or leaf == "bias":
            v = 0.1 * torch.randn(shape, generator=gen)
        elif leaf == "weight" and len(shape) == 1:
            v = 1 + 0.2 * torch.randn(shape, generator=gen)
        else:
            fan_in = max(1, value.numel() // shape[0])
            v = torch.randn(shape, generator=gen) / fan_in ** 0.5
        state[name] = v.to(value.dtype)
    return state


def load_strict(module, state: dict, what: str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a message that names what differs."""
    if not isinstance(module, nn.Module):
        raise GradingError(f"{what}: expected an nn.Module, got {type(module).__name__}")
    mine = module.state_dict()
    missing = sorted(set(state) - set(mine))
    extra = sorted(set(mine) - set(state))
    if missing or extra:
        raise GradingError(
            f"{what}: the parameter names differ from the exercise contract (load_state_dict strict):"
            + (f"\n  missing: {missing[:8]}{' …' if len(missing) > 8 else ''}" if missing else "")
            + (f"\n  unexpected: {extra[:8]}{' …' if len(extra) > 8 else ''}" if extra else "")
            + "\n  keep the attribute names and the order of the layers inside each nn.Sequential "
              "as the docstrings say"
        )
    shapes = [f"{k}: expected {tuple(v.shape)}, got {tuple(mine[k].shape)}" for k, v in state.items()
              if tuple(mine[k].shape) != tuple(v.shape)]
    if shapes:
        raise GradingError(f"{what}: parameter shapes differ from the exercise contract:\n  "
                           + "\n  ".join(shapes[:8]))
    module.load_state_dict(state, strict=True)


def run_module(impl, module, *inputs):
    """``module(*inputs)`` with the student's errors turned into a GradingError."""
    try:
        return module(*inputs)
    except GradingError:
        raise
    except NotImplementedError as err:
        raise GradingError(f"not implemented yet: {type(module).__name__}.forward ({err})") from None
    except Exception as err:  # noqa: BLE001 - student code may raise anything
        raise GradingError(f"unet.py: {type(module).__name__}.forward raised {type(err).__name__}: "
                           f"{err}{_student_frames(err, impl)}") from err


def eval_and_train_outputs(impl, module, inputs) -> dict[str, torch.Tensor]:
    """Outputs in eval() mode (running statistics), then in train() mode (batch statistics)."""
    with torch.no_grad():
        module.eval()
        out_eval = run_module(impl, module, *inputs)
        module.train()
        out_train = run_module(impl, module, *inputs)
    return {"eval": out_eval, "train": out_train}


# --------------------------------------------------------------------------------------------
# The UNet blocks and networks: reference weights in, outputs compared
# --------------------------------------------------------------------------------------------

def _unet_inputs(batch: int = 3, seed: int = 20):
    x = digits(batch)[0] + 0.3 * gaussian((batch, 1, 28, 28), seed)
    t = torch.linspace(0.0, 1.0, batch)
    c = F.one_hot(torch.arange(batch) * 3 % 10, 10).float()
    c[-1] = 0  # one unconditional row
    return x, t, c


#: name: (section, (function, args), inputs) — every block and network the tests load weights into.
MODULE_CASES = {
    "B1.1/conv": ("B1.1", ("unet.conv", (3, 5)), lambda: (gaussian((3, 3, 10, 10), 11),)),
    "B1.1/down_conv": ("B1.1", ("unet.down_conv", (3, 5)), lambda: (gaussian((3, 3, 10, 10), 12),)),
    "B1.1/up_conv": ("B1.1", ("unet.up_conv", (3, 5)), lambda: (gaussian((3, 3, 5, 5), 13),)),
    "B1.1/flatten": ("B1.1", ("unet.flatten", ()), lambda: (gaussian((3, 4, 7, 7), 14),)),
    "B1.1/unflatten": ("B1.1", ("unet.unflatten", (4,)), lambda: (gaussian((3, 4, 1, 1), 15),)),
    "B1.1/conv_block": ("B1.1", ("unet.conv_block", (3, 5)), lambda: (gaussian((3, 3, 10, 10), 16),)),
    "B1.1/down_block": ("B1.1", ("unet.down_block", (3, 5)), lambda: (gaussian((3, 3, 10, 10), 17),)),
    "B1.1/up_block": ("B1.1", ("unet.up_block", (3, 5)), lambda: (gaussian((3, 3, 5, 5), 18),)),
    "B1.1/unet": ("B1.1", ("unet.UNet", (1, 8)), lambda: _unet_inputs()[:1]),
    "B2.1/fc_block": ("B2.1", ("unet.fc_block", (3, 6)), lambda: (gaussian((3, 3), 19),)),
    "B2.1/time_unet": ("B2.1", ("unet.TimeConditionalUNet", (1, 8)), lambda: _unet_inputs()[:2]),
    "B2.4/class_unet": ("B2.4", ("unet.ClassConditionalUNet", (1, 10, 8)), lambda: _unet_inputs()),
}
MODULE_TOLERANCE = dict(atol=1e-4, rtol=1e-3)


def build_module(impl, name: str):
    fn, args = MODULE_CASES[name][1]
    module = call(impl, fn, *args)
    if not isinstance(module, nn.Module):
        raise GradingError(f"{fn}{args} should return an nn.Module, got {type(module).__name__}")
    return module


def _module_case(name: str):
    def module_case(impl):
        module = build_module(impl, name)
        state = deterministic_state(module, seed=len(name))
        module.load_state_dict(state, strict=True)
        out = eval_and_train_outputs(impl, module, MODULE_CASES[name][2]())
        return {**{f"w/{k}": v for k, v in state.items()}, **out}

    return module_case


for _name, (_section, _, _) in MODULE_CASES.items():
    case(_name, _section, **MODULE_TOLERANCE)(_module_case(_name))


def check_module(name: str, impl) -> None:
    """Build the student's block/network ``name``, load the reference weights into it strictly, and
    compare its outputs in eval() and train() mode with the reference."""
    want = load_reference(name)
    module = build_module(impl, name)
    load_strict(module, {k[2:]: v for k, v in want.items() if k.startswith("w/")}, name)
    got = eval_and_train_outputs(impl, module, MODULE_CASES[name][2]())
    for mode in ("eval", "train"):
        compare(f"{name}: output in {mode}() mode", got[mode], want[mode], **MODULE_TOLERANCE)


def _param_count_case(fn: str, args):
    def param_count(impl):
        module = call(impl, fn, *args)
        return {"parameters": torch.tensor(sum(p.numel() for p in module.parameters()))}

    return param_count


case("B1.1/param_count", "B1.1")(_param_count_case("unet.UNet", (1, 128)))
case("B2.1/param_count", "B2.1")(_param_count_case("unet.TimeConditionalUNet", (1, 64)))
case("B2.4/param_count", "B2.4")(_param_count_case("unet.ClassConditionalUNet", (1, 10, 64)))


# --------------------------------------------------------------------------------------------
# The models the loss and sampler tests feed to the student's code
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# §1.2 one-step denoiser
# --------------------------------------------------------------------------------------------

SIGMAS = (0.0, 0.2, 0.5, 1.0)


@case("B1.2/add_noise", "B1.2")
def add_noise_case(impl):
    x = digits(3)[0]
    noise = gaussian(x.shape, 30)
    return {f"z_sigma{s}": call(impl, "train.add_noise", x, s, noise) for s in SIGMAS}


@case("B1.2/denoiser_loss", "B1.2", atol=1e-6, rtol=1e-5)
def denoiser_loss_case(impl):
    x = digits(3)[0]
    noise = gaussian(x.shape, 31)
    model = tiny_denoiser()
    loss = call(impl, "train.denoiser_loss", model, x, 0.5, noise)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise GradingError(f"denoiser_loss should return a 0-dim tensor (the mean), got "
                           f"{type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}")
    if not loss.requires_grad:
        raise GradingError("denoiser_loss returned a tensor without a gradient: compute it from the "
                           "model's output, without torch.no_grad() or .detach()")
    loss.backward()
    return {"loss": loss.detach(), "grad_weight": model.weight.grad, "grad_bias": model.bias.grad}


# --------------------------------------------------------------------------------------------
# §2.1 time input, §2.2 schedule and DDPM loss
# --------------------------------------------------------------------------------------------

@case("B2.1/normalize_t", "B2.1", atol=1e-7, rtol=1e-6)
def normalize_t_case(impl):
    return {"T300": call(impl, "train.normalize_t", torch.tensor([0, 1, 150, 299]), 300),
            "T12": call(impl, "train.normalize_t", torch.tensor([11, 0, 5]), 12)}


def schedule_of(impl, *args) -> dict:
    s = call(impl, "train.ddpm_schedule", *args)
    keys = ("betas", "alphas", "alphas_cumprod")
    if not isinstance(s, dict) or not all(k in s for k in keys):
        raise GradingError(f"ddpm_schedule should return a dict with keys {keys}, got "
                           f"{type(s).__name__} {list(s) if isinstance(s, dict) else ''}")
    return s


@case("B2.2/ddpm_schedule", "B2.2", atol=1e-7, rtol=1e-5)
def ddpm_schedule_case(impl):
    out = {f"default/{k}": v for k, v in schedule_of(impl).items()}
    out.update({f"custom/{k}": v for k, v in schedule_of(impl, 1e-3, 0.05, 7).items()})
    return out


LOSS_T = (0, 1, 150, 299)


def loss_inputs(n: int = 4):
    x0, labels = digits(n)
    return x0, labels, torch.tensor(LOSS_T[:n]), gaussian(x0.shape, 40)


def scalar_loss(loss, what: str) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise GradingError(f"{what} should return a 0-dim tensor (the mean over all elements), got "
                           f"{type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}")
    if not loss.requires_grad:
        raise GradingError(f"{what} returned a tensor without a gradient: no torch.no_grad() or .detach()")
    return loss


@case("B2.2/ddpm_loss", "B2.2", atol=1e-6, rtol=1e-5)
def ddpm_loss_case(impl):
    x0, _, t, eps = loss_inputs()
    model = TinyEps()
    loss = scalar_loss(call(impl, "train.ddpm_loss", model, x0, t, eps,
                            course_schedule()["alphas_cumprod"]), "ddpm_loss")
    loss.backward()
    return {"loss": loss.detach(), "grad_conv1": model.conv1.weight.grad,
            "t_seen": torch.cat([c[0] for c in model.calls])}


DROP = (False, True, False, True)


@case("B2.4/class_vector", "B2.4", atol=0, rtol=0)
def class_vector_case(impl):
    return {"ten": call(impl, "train.class_vector", torch.tensor([3, 0, 9, 3, 5]),
                        torch.tensor([False, True, False, False, True]), 10),
            "four": call(impl, "train.class_vector", torch.tensor([1, 3, 0]), torch.tensor([False, False, True]), 4)}


@case("B2.4/ddpm_loss_class", "B2.4", atol=1e-6, rtol=1e-5)
def ddpm_loss_class_case(impl):
    x0, labels, t, eps = loss_inputs()
    c = call(impl, "train.class_vector", labels, torch.tensor(DROP), 10)
    model = TinyEps(num_classes=10)
    loss = scalar_loss(call(impl, "train.ddpm_loss", model, x0, t, eps,
                            course_schedule()["alphas_cumprod"], c), "ddpm_loss")
    loss.backward()
    return {"loss": loss.detach(), "grad_fc_c": model.fc_c.weight.grad, "c_seen": model.calls[0][1]}


# --------------------------------------------------------------------------------------------
# §2.3 DDPM step and sampling, §2.5 guided sampling
# --------------------------------------------------------------------------------------------

STEP_T = (TINY_T - 1, TINY_T // 2, 1, 0)


@case("B2.3/ddpm_step", "B2.3", atol=1e-5, rtol=1e-4)
def ddpm_step_case(impl):
    shape = (2, 1, 5, 5)
    x_t, eps, z = gaussian(shape, 50), gaussian(shape, 51), gaussian(shape, 52)
    s = tiny_schedule()
    return {f"t{t}": call(impl, "train.ddpm_step", x_t, eps, t, s, z) for t in STEP_T}


SAMPLE_SHAPE = (3, 1, 6, 6)


def record_sampling(impl, model, c=None, guidance_scale: float = 5.0, seed: int = 7, shape=SAMPLE_SHAPE):
    """Run the student's ddpm_sample on ``model`` with the tiny schedule; returns (x0, steps, ts)."""
    steps, ts = [], []

    def callback(t, x):
        ts.append(int(t))
        steps.append(x.detach().clone())

    kwargs = {} if c is None else {"c": c, "guidance_scale": guidance_scale}
    x = call(impl, "train.ddpm_sample", model, shape, tiny_schedule(), torch.Generator().manual_seed(seed),
             callback=callback, **kwargs)
    if not steps:
        raise GradingError("ddpm_sample never called callback(t, x): call it after every step")
    return x, torch.stack(steps), torch.tensor(ts)


@case("B2.3/ddpm_sample", "B2.3", atol=1e-4, rtol=1e-3)
def ddpm_sample_case(impl):
    x, steps, ts = record_sampling(impl, TinyEps(seed=5))  # the model starts in train() mode
    return {"x0": x, "steps": steps, "t": ts}


@case("B2.5/cfg_noise", "B2.5", atol=1e-5, rtol=1e-4)
def cfg_noise_case(impl):
    x = gaussian(SAMPLE_SHAPE, 60)
    t = torch.tensor([0.0, 0.5, 1.0])
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    model = TinyEps(num_classes=10, seed=6).eval()
    return {f"gamma{g}": call(impl, "train.cfg_noise", model, x, t, c, g) for g in (0.0, 1.0, 5.0)}


@case("B2.5/ddpm_sample_cfg", "B2.5", atol=1e-4, rtol=1e-3)
def ddpm_sample_cfg_case(impl):
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    x, steps, ts = record_sampling(impl, TinyEps(num_classes=10, seed=6), c=c, guidance_scale=5.0, seed=8)
    return {"x0": x, "steps": steps, "t": ts}


# --------------------------------------------------------------------------------------------
# Checks shared by the graded tests of the three UNets
# --------------------------------------------------------------------------------------------

def unet_inputs(kind: str, batch: int, seed: int = 70):
    """Inputs (x[, t[, c]]) for a UNet of ``kind`` ('unet', 'time', 'class') and a batch size."""
    x = gaussian((batch, 1, 28, 28), seed)
    t = torch.rand(batch, generator=torch.Generator().manual_seed(seed + 1))
    c = F.one_hot(torch.arange(batch) % 10, 10).float()
    return {"unet": (x,), "time": (x, t), "class": (x, t, c)}[kind]


UNET_BUILD = {"unet": ("unet.UNet", (1,)), "time": ("unet.TimeConditionalUNet", (1,)),
              "class": ("unet.ClassConditionalUNet", (1, 10))}


def build_unet(impl, kind: str, hidden: int, seed: int = 0):
    """The student's UNet of ``kind``, its default init drawn from ``seed`` (the global RNG of the
    caller is left as it was), so no check depends on what ran before it."""
    fn, args = UNET_BUILD[kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = call(impl, fn, *args, hidden)
    if not isinstance(module, nn.Module):
        raise GradingError(f"{fn} should build an nn.Module, got {type(module).__name__}")
    return module


def check_unet_shapes(impl, kind: str, hidden: int = 4, batches=(1, 5)) -> None:
    """(B, 1, 28, 28) float32 out for every batch size, in train() and eval() mode; inputs untouched."""
    module = build_unet(impl, kind, hidden)
    name = type(module).__name__
    for batch in batches:
        inputs = unet_inputs(kind, batch)
        before = [i.clone() for i in inputs]
        for mode in ("train", "eval"):
            module.train(mode == "train")
            with torch.no_grad():
                out = run_module(impl, module, *inputs)
            compare(f"{name} output shape/dtype for a batch of {batch} in {mode}() mode", out,
                    torch.zeros(batch, 1, 28, 28), atol=float("inf"), rtol=0)
        for i, (a, b) in enumerate(zip(inputs, before)):
            if not torch.equal(a, b):
                raise GradingError(f"{name}.forward modified its input {i + 1} in place")


def check_gradients_reach_every_parameter(impl, kind: str, hidden: int = 4) -> None:
    """One backward pass of a random linear function of the output: every parameter gets a
    finite, non-zero gradient (nothing detached, no layer left out of the forward pass)."""
    module = build_unet(impl, kind, hidden)
    module.train()
    inputs = unet_inputs(kind, 3)
    out = run_module(impl, module, *inputs)
    (out * gaussian(out.shape, 80)).sum().backward()
    name = type(module).__name__
    none = [n for n, p in module.named_parameters() if p.grad is None]
    if none:
        raise GradingError(f"{name}: no gradient reaches {none[:6]}: every layer must be used in forward, "
                           "without .detach() or torch.no_grad()")
    zero = [n for n, p in module.named_parameters() if not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    if zero:
        raise GradingError(f"{name}: zero or non-finite gradients for {zero[:6]}")
    if not any(True for _ in module.parameters()):
        raise GradingError(f"{name} has no parameters")
