"""Cases and checks of unet.py (§1.1 the UNet and its blocks, §2.1 the time-conditioned UNet, §2.4
the class-conditioned one).

Every block and network of :data:`MODULE_CASES` is a reference case: deterministic weights in
(stored beside the outputs, keys ``w/<parameter name>``), outputs in eval() and train() mode out;
:func:`check_module` loads those weights into the student's module strictly and compares.  The
parameter counts of the three networks are cases too.  :func:`check_unet_shapes` and
:func:`check_gradients_reach_every_parameter` are the shape and gradient checks of the graded tests.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ... import GradingError, about, call, compare, is_remote, run_trusted
from .. import case, load_reference
from .inputs import digits, gaussian
from .weights import deterministic_state, eval_and_train_outputs, load_strict, run_module


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


for _name, (_section, (_fn, _), _) in MODULE_CASES.items():
    case(_name, _section, **MODULE_TOLERANCE, functions=_fn)(_module_case(_name))


def module_outputs(impl, name: str, weights: dict) -> dict:
    """The student's block/network ``name`` with ``weights`` loaded strictly: its outputs in eval()
    and train() mode (run where the student code runs)."""
    module = build_module(impl, name)
    load_strict(module, weights, name)
    return eval_and_train_outputs(impl, module, MODULE_CASES[name][2]())


def check_module(name: str, impl) -> None:
    """Build the student's block/network ``name``, load the reference weights into it strictly, and
    compare its outputs in eval() and train() mode with the reference."""
    want = load_reference(name)
    weights = {k[2:]: v for k, v in want.items() if k.startswith("w/")}
    with about(MODULE_CASES[name][1][0]):
        got = run_trusted(impl, module_outputs, name, weights)
    got = got if isinstance(got, dict) else {}
    for mode in ("eval", "train"):
        compare(f"{name}: output in {mode}() mode", got.get(mode), want[mode], **MODULE_TOLERANCE,
                fn=MODULE_CASES[name][1][0])


def _param_count_case(fn: str, args):
    def param_count(impl):
        module = call(impl, fn, *args)
        return {"parameters": torch.tensor(sum(p.numel() for p in module.parameters()))}

    return param_count


# exact: one parameter more or less (an extra BatchNorm, a bias left out) is a different network
EXACT = dict(atol=0, rtol=0)
case("B1.1/param_count", "B1.1", **EXACT, functions="unet.UNet")(_param_count_case("unet.UNet", (1, 128)))
case("B2.1/param_count", "B2.1", **EXACT, functions="unet.TimeConditionalUNet")(
    _param_count_case("unet.TimeConditionalUNet", (1, 64)))
case("B2.4/param_count", "B2.4", **EXACT, functions="unet.ClassConditionalUNet")(
    _param_count_case("unet.ClassConditionalUNet", (1, 10, 64)))


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
    caller is left as it was), so no check depends on what ran before it.  For a submission in a
    process of its own, the UNet lives there (a :class:`fundiff.grading.remote.RemoteObject`)."""
    if is_remote(impl):
        return impl.probe(f"{__name__}:build_unet", kind, hidden, seed)
    fn, args = UNET_BUILD[kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = call(impl, fn, *args, hidden)
    if not isinstance(module, nn.Module):
        raise GradingError(f"{fn} should build an nn.Module, got {type(module).__name__}")
    return module


def unet_shape_outputs(impl, kind: str, hidden: int, batches) -> dict:
    """The UNet's outputs for every batch size in train() and eval() mode, and which input (if any)
    its forward changed in place (run where the student code runs)."""
    module = build_unet(impl, kind, hidden)
    outputs, modified = [], []
    for batch in batches:
        inputs = unet_inputs(kind, batch)
        before = [i.clone() for i in inputs]
        for mode in ("train", "eval"):
            module.train(mode == "train")
            with torch.no_grad():
                outputs.append(run_module(impl, module, *inputs))
        modified.append(next((i for i, (a, b) in enumerate(zip(inputs, before)) if not torch.equal(a, b)), -1))
    return {"name": type(module).__name__, "outputs": outputs, "modified": modified}


def check_unet_shapes(impl, kind: str, hidden: int = 4, batches=(1, 5)) -> None:
    """(B, 1, 28, 28) float32 out for every batch size, in train() and eval() mode; inputs untouched."""
    with about(UNET_BUILD[kind][0]):
        _check_unet_shapes(impl, kind, hidden, batches)


def _check_unet_shapes(impl, kind: str, hidden: int, batches) -> None:
    got = run_trusted(impl, unet_shape_outputs, kind, hidden, list(batches))
    if not isinstance(got, dict) or not isinstance(got.get("outputs"), list) or \
            len(got["outputs"]) != 2 * len(batches) or not isinstance(got.get("modified"), list):
        raise GradingError(f"the {kind} UNet's shape check produced no outputs")
    name = str(got.get("name", "UNet"))
    outputs = iter(got["outputs"])
    for batch, changed in zip(batches, got["modified"]):
        for mode in ("train", "eval"):
            compare(f"{name} output shape/dtype for a batch of {batch} in {mode}() mode", next(outputs),
                    torch.zeros(batch, 1, 28, 28), atol=float("inf"), rtol=0)
        if changed != -1:
            raise GradingError(f"{name}.forward modified its input {int(changed) + 1} in place")


def gradient_report(impl, kind: str, hidden: int) -> dict:
    """One backward pass of a random linear function of the UNet's output: the parameters that got
    no gradient, and those whose gradient is zero or not finite (run where the student code runs)."""
    module = build_unet(impl, kind, hidden)
    module.train()
    inputs = unet_inputs(kind, 3)
    out = run_module(impl, module, *inputs)
    if not isinstance(out, torch.Tensor):
        raise GradingError(f"{type(module).__name__} returned {type(out).__name__}, not a tensor")
    (out * gaussian(out.shape, 80)).sum().backward()
    return {"name": type(module).__name__,
            "none": [n for n, p in module.named_parameters() if p.grad is None],
            "zero": [n for n, p in module.named_parameters() if p.grad is not None and (
                not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)],
            "count": sum(1 for _ in module.parameters())}


def check_gradients_reach_every_parameter(impl, kind: str, hidden: int = 4) -> None:
    """One backward pass of a random linear function of the output: every parameter gets a
    finite, non-zero gradient (nothing detached, no layer left out of the forward pass)."""
    with about(UNET_BUILD[kind][0]):
        _check_gradients(impl, kind, hidden)


def _check_gradients(impl, kind: str, hidden: int) -> None:
    got = run_trusted(impl, gradient_report, kind, hidden)
    if not isinstance(got, dict):
        raise GradingError(f"the {kind} UNet's gradient check produced no report")
    name = str(got.get("name", "UNet"))
    none, zero = list(got.get("none") or []), list(got.get("zero") or [])
    if none:
        raise GradingError(f"{name}: no gradient reaches {none[:6]}: every layer must be used in forward, "
                           "without .detach() or torch.no_grad()")
    if zero:
        raise GradingError(f"{name}: zero or non-finite gradients for {zero[:6]}")
    if not got.get("count"):
        raise GradingError(f"{name} has no parameters")


def conditioning_outputs(impl, kind: str, hidden: int = 4, seed: int = 24) -> dict:
    """The UNet of ``kind`` ('time' or 'class') with deterministic weights (not the default init,
    under which the conditioning moves the output by ~1e-6 only), in eval() mode: its output for
    the inputs of :func:`unet_inputs`, for t of shape (B, 1), for the reversed times 1 − t, and (class)
    for the next class and for c = 0 (run where the student code runs)."""
    module = build_unet(impl, kind, hidden)
    load_strict(module, deterministic_state(module, seed), UNET_BUILD[kind][0])
    module.eval()
    inputs = unet_inputs(kind, 3)
    x, t = inputs[:2]
    with torch.no_grad():
        out = {"out": run_module(impl, module, *inputs),
               "t_B1": run_module(impl, module, x, t[:, None], *inputs[2:]),
               "other_t": run_module(impl, module, x, 1 - t, *inputs[2:])}
        if kind == "class":
            c = inputs[2]
            out["other_c"] = run_module(impl, module, x, t, c.roll(1, dims=1))
            out["zero_c"] = run_module(impl, module, x, t, torch.zeros_like(c))
    return out


#: With these weights a network that uses its conditioning moves the output by ~1e-2 of its size
#: (solutions: class 0.8 %, c = 0 0.4 %, time 2.5 %); float noise is ~1e-7 of it.  A change under
#: 1e-4 of the output's size means the input is ignored.
EFFECT_FLOOR = 1e-4


def check_conditioning_matters(impl, kind: str, what: str, key: str, got: dict | None = None) -> None:
    """The output of the ``kind`` UNet changes by more than :data:`EFFECT_FLOOR` of its size when
    the conditioning changes as ``key`` says (``got``: :func:`conditioning_outputs`, run if None)."""
    fn = UNET_BUILD[kind][0]
    with about(fn):
        got = run_trusted(impl, conditioning_outputs, kind) if got is None else got
        if not isinstance(got, dict) or not all(isinstance(got.get(k), torch.Tensor) for k in ("out", key)):
            raise GradingError(f"{fn}: the conditioning check produced no outputs")
        out = got["out"].detach().double()
        compare(f"{fn} output for {what}", got[key], torch.zeros_like(got["out"]), atol=float("inf"), rtol=0)
        change, size = (got[key].detach().double() - out).abs().max().item(), out.abs().max().item()
        if not change > EFFECT_FLOOR * size:
            raise GradingError(f"{fn} ignores its input: {what} changes the output by at most {change:.2g} (the output "
                               f"is of size {size:.2g}; a network that uses it changes it by about 1e-2 of that)",
                               function=fn)
