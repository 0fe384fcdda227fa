"""Cases of train.py: §1.2 the one-step denoiser's noise and loss, §2.1 the time input, §2.2 the
schedule and the DDPM loss, §2.4 the class vector and the class-conditioned loss, §2.3 the DDPM step
and sampler, §2.5 classifier-free guidance."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import GradingError, call
from .. import case
from .inputs import TINY_T, course_schedule, digits, gaussian, tiny_schedule
from .tiny_models import TinyEps, tiny_denoiser


# --------------------------------------------------------------------------------------------
# §1.2 one-step denoiser
# --------------------------------------------------------------------------------------------

SIGMAS = (0.0, 0.2, 0.5, 1.0)


@case("B1.2/add_noise", "B1.2", functions="train.add_noise")
def add_noise_case(impl):
    x = digits(3)[0]
    noise = gaussian(x.shape, 30)
    return {f"z_sigma{s}": call(impl, "train.add_noise", x, s, noise) for s in SIGMAS}


@case("B1.2/denoiser_loss", "B1.2", atol=1e-6, rtol=1e-5, functions="train.denoiser_loss")
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

@case("B2.1/normalize_t", "B2.1", atol=1e-7, rtol=1e-6, functions="train.normalize_t")
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


@case("B2.2/ddpm_schedule", "B2.2", atol=1e-7, rtol=1e-5, functions="train.ddpm_schedule")
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


@case("B2.2/ddpm_loss", "B2.2", atol=1e-6, rtol=1e-5, functions="train.ddpm_loss")
def ddpm_loss_case(impl):
    x0, _, t, eps = loss_inputs()
    model = TinyEps()
    loss = scalar_loss(call(impl, "train.ddpm_loss", model, x0, t, eps,
                            course_schedule()["alphas_cumprod"]), "ddpm_loss")
    loss.backward()
    return {"loss": loss.detach(), "grad_conv1": model.conv1.weight.grad,
            "t_seen": torch.cat([c[0] for c in model.calls])}


DROP = (False, True, False, True)


@case("B2.4/class_vector", "B2.4", atol=0, rtol=0, functions="train.class_vector")
def class_vector_case(impl):
    return {"ten": call(impl, "train.class_vector", torch.tensor([3, 0, 9, 3, 5]),
                        torch.tensor([False, True, False, False, True]), 10),
            "four": call(impl, "train.class_vector", torch.tensor([1, 3, 0]), torch.tensor([False, False, True]), 4)}


@case("B2.4/ddpm_loss_class", "B2.4", atol=1e-6, rtol=1e-5, functions="train.ddpm_loss",
      uses=("train.class_vector",))
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


@case("B2.3/ddpm_step", "B2.3", atol=1e-5, rtol=1e-4, functions="train.ddpm_step")
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


@case("B2.3/ddpm_sample", "B2.3", atol=1e-4, rtol=1e-3, functions="train.ddpm_sample")
def ddpm_sample_case(impl):
    x, steps, ts = record_sampling(impl, TinyEps(seed=5))  # the model starts in train() mode
    return {"x0": x, "steps": steps, "t": ts}


@case("B2.5/cfg_noise", "B2.5", atol=1e-5, rtol=1e-4, functions="train.cfg_noise")
def cfg_noise_case(impl):
    x = gaussian(SAMPLE_SHAPE, 60)
    t = torch.tensor([0.0, 0.5, 1.0])
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    model = TinyEps(num_classes=10, seed=6).eval()
    return {f"gamma{g}": call(impl, "train.cfg_noise", model, x, t, c, g) for g in (0.0, 1.0, 5.0)}


@case("B2.5/ddpm_sample_cfg", "B2.5", atol=1e-4, rtol=1e-3, functions="train.ddpm_sample",
      uses=("train.cfg_noise",))
def ddpm_sample_cfg_case(impl):
    c = F.one_hot(torch.tensor([3, 7, 0]), 10).float()
    x, steps, ts = record_sampling(impl, TinyEps(num_classes=10, seed=6), c=c, guidance_scale=5.0, seed=8)
    return {"x0": x, "steps": steps, "t": ts}
