"""Deterministic weights for the student's modules, loaded strictly, and running them.

Weights never come from ``torch``'s global RNG: :func:`deterministic_state` fills a module's state
dict from CPU generators seeded by the parameter names, so a reference depends only on the names and
shapes of the parameters (the exercise contract); :func:`load_strict` loads such a state with a
message that names what differs.
"""
from __future__ import annotations

import zlib

import torch
from torch import nn

from ... import GradingError, _student_frames
from .. import fresh_seed


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
        gen = torch.Generator().manual_seed(fresh_seed(seed) * 1_000_003 + zlib.crc32(name.encode()))
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
    if getattr(module, "is_module", False) and hasattr(module, "_owner"):  # a RemoteObject
        return module(*inputs)
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
