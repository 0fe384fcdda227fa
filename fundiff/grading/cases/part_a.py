"""Reference cases of Part A (forward.py, denoise.py, guidance.py)."""
from __future__ import annotations

import torch

from ...data import load_digits
from .. import call
from . import case, fresh_offset, fresh_seed


def cosine_alphas_cumprod(num_train_timesteps: int = 1000) -> torch.Tensor:
    """ᾱ of IF's schedule (DDPM, squaredcos_cap_v2, 1000 steps), float32 (T,), from diffusers."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2")
    return sched.alphas_cumprod.to(torch.float32).clone()


def digit_images(n: int = 2) -> torch.Tensor:
    """``n`` held-out digits in [-1, 1], (n, 1, 28, 28): the Part A "test image" of the graded cases."""
    x, _ = load_digits("heldout")
    return x[fresh_offset(50)::50][:n] * 2 - 1


def gaussian(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(fresh_seed(seed)))


@case("A1.1/forward_process", "A1.1")
def forward_process_case(impl):
    abar = cosine_alphas_cumprod()
    x0 = digit_images(2)
    eps = gaussian(x0.shape, 1)
    out = {f"x_t{t}": call(impl, "forward.forward_process", x0, eps, t, abar) for t in (0, 250, 500, 750, 999)}
    out["x_t_batch"] = call(impl, "forward.forward_process", x0, eps, torch.tensor([100, 900]), abar)
    return out


# ---------------------------------------------------------------------------------------------
# Helpers of the Part A cases (the tiny exact model, images, masks)
# ---------------------------------------------------------------------------------------------

LOOP_TOL = dict(atol=1e-4, rtol=1e-3)  # a loop of float32 steps: allow summation-order differences


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(fresh_seed(seed))


def gaussian_model(size: int = 8, channels: int = 1, learned_variance: bool = False):
    """The exact noise predictor of Gaussian data (fundiff.models.GaussianModel) at size × size."""
    from ...models import GaussianModel

    return GaussianModel((channels, size, size), learned_variance=learned_variance)


def small_digits(n: int = 2, size: int = 16) -> torch.Tensor:
    """``n`` held-out digits in [-1, 1], area-downsampled to (n, 1, size, size)."""
    return torch.nn.functional.interpolate(digit_images(n), size=(size, size), mode="area")


def drawing(size: int = 16) -> torch.Tensor:
    """A "hand-drawn" image (1, 1, size, size) in [-1, 1]: a white stroke (a box and a diagonal) on black."""
    x = -torch.ones(1, 1, size, size)
    a, b = size // 4, size - size // 4 - 1
    x[..., a, a:b + 1] = x[..., b, a:b + 1] = x[..., a:b + 1, a] = x[..., a:b + 1, b] = 1.0
    idx = torch.arange(a, b + 1)
    x[..., idx, idx] = 1.0
    return x


def center_mask(size: int = 16) -> torch.Tensor:
    """(1, 1, size, size): 1 on a centered square (new content), 0 elsewhere (kept)."""
    m = torch.zeros(1, 1, size, size)
    m[..., size // 4: size - size // 4, size // 4: size - size // 4] = 1.0
    return m


def noisy(x0: torch.Tensor, t: int, abar: torch.Tensor, seed: int) -> torch.Tensor:
    """x_t of x0 (computed here, not by the student's forward_process)."""
    a = abar[t]
    return a.sqrt() * x0 + (1 - a).sqrt() * gaussian(x0.shape, seed)


def short_timesteps(stride: int = 90) -> list:
    """A shorter strided schedule for the loop cases: 990, 990 − stride, …, 0."""
    return list(range(990, -1, -stride))


# ---------------------------------------------------------------------------------------------
# §0, §1.2 – §1.9
# ---------------------------------------------------------------------------------------------

@case("A0/sampling", "A0", **LOOP_TOL)
def sampling_case(impl):
    m = gaussian_model(8)
    out = {}
    for n in (5, 10):
        ts = call(impl, "denoise.inference_timesteps", n, 1000)
        out[f"timesteps_n{n}"] = torch.tensor(ts)
        for prompt in ("top", "ring", "stripes"):
            out[f"{prompt}_n{n}"] = call(impl, "denoise.sample", m.estimator(prompt), (2, 1, 8, 8), ts,
                                         m.alphas_cumprod, gen(180))
    return out


@case("A1.2/blur", "A1.2")
def blur_case(impl):
    abar = cosine_alphas_cumprod()
    x0 = digit_images(2)
    out = {}
    for t in (250, 500, 750):
        x_t = noisy(x0, t, abar, t)
        out[f"blur_t{t}"] = call(impl, "denoise.gaussian_blur", x_t, 5, 1.5)
        k, s, y = call(impl, "denoise.best_blur", x_t, x0, [3, 5, 7, 9], [0.5, 1.0, 2.0, 3.0])
        out[f"best_t{t}"] = y
        out[f"best_params_t{t}"] = torch.tensor([float(k), float(s)])
    return out


@case("A1.3/one_step", "A1.3")
def one_step_case(impl):
    m = gaussian_model(16, channels=3)
    x0 = m.means["stripes"] + m.std * gaussian((2, 3, 16, 16), 5)
    est = m.estimator("stripes")
    out = {}
    for t in (250, 500, 750):
        x_t = noisy(x0, t, m.alphas_cumprod, 10 + t)
        eps, _ = est(x_t, t)
        out[f"x0_hat_t{t}"] = call(impl, "denoise.estimate_x0", x_t, eps, t, m.alphas_cumprod)
    return out


@case("A1.4/variances", "A1.4")
def variances_case(impl):
    abar = cosine_alphas_cumprod()
    v = torch.tanh(gaussian((2, 3, 4, 4), 6))
    out = {}
    for t, tp in ((990, 960), (500, 470), (30, 0), (0, -1)):
        out[f"fixed_{t}_{tp}"] = call(impl, "denoise.fixed_variance", t, tp, abar).reshape(1)
        if tp >= 0:
            out[f"learned_{t}_{tp}"] = call(impl, "denoise.learned_variance", v, t, tp, abar)
    out["strided"] = torch.tensor(call(impl, "denoise.strided_timesteps", 990, 30))
    out["strided_100"] = torch.tensor(call(impl, "denoise.strided_timesteps", 900, 100))
    return out


@case("A1.4/iterative", "A1.4", **LOOP_TOL)
def iterative_case(impl):
    out = {}
    ts = call(impl, "denoise.strided_timesteps", 990, 30)
    x0 = small_digits(1, 8)
    for lv in (True, False):
        m = gaussian_model(8, learned_variance=lv)
        frames = []
        x_t = noisy(x0, ts[10], m.alphas_cumprod, 7)
        x = call(impl, "denoise.iterative_denoise", x_t, m.estimator(""), ts, 10, m.alphas_cumprod, gen(8),
                 None, lambda i, t, x: frames.append(x.clone()))
        out[f"final_learned{int(lv)}"] = x
        out[f"frames_learned{int(lv)}"] = torch.stack(frames)
    return out


@case("A1.5/sample", "A1.5", **LOOP_TOL)
def sample_case(impl):
    m = gaussian_model(8, learned_variance=True)
    return {"samples": call(impl, "denoise.sample", m.estimator(""), (5, 1, 8, 8), short_timesteps(),
                            m.alphas_cumprod, gen(180))}


@case("A1.6/cfg", "A1.6", **LOOP_TOL)
def cfg_case(impl):
    m = gaussian_model(8, learned_variance=True)
    out = {}
    for gamma in (1.0, 7.0):
        est = call(impl, "guidance.cfg_estimator", m.estimator("corner"), m.estimator(""), gamma)
        out[f"samples_g{gamma:g}"] = call(impl, "denoise.sample", est, (5, 1, 8, 8), short_timesteps(),
                                          m.alphas_cumprod, gen(180))
    return out


@case("A1.7/sdedit", "A1.7", **LOOP_TOL)
def sdedit_case(impl):
    m = gaussian_model(16, learned_variance=True)
    ts = short_timesteps(60)
    images = {"digit": small_digits(1, 16), "drawing": drawing(16)}
    out = {}
    for prompt in ("", "ring"):  # unconditional (§1.7, §1.7.1) and text-conditional (§1.7.3)
        est = call(impl, "guidance.cfg_estimator", m.estimator(prompt), m.estimator(""), 7.0)
        for name, x in images.items():
            for i_start in (1, 3, 5, 7, 10):
                out[f"{name}_{prompt or 'uncond'}_i{i_start}"] = call(
                    impl, "guidance.sdedit", x, est, ts, i_start, m.alphas_cumprod, gen(i_start))
    return out


@case("A1.7/inpaint", "A1.7", **LOOP_TOL)
def inpaint_case(impl):
    m = gaussian_model(16, learned_variance=True)
    x = torch.cat([small_digits(1, 16), drawing(16)])
    frames = []
    est = call(impl, "guidance.cfg_estimator", m.estimator("ring"), m.estimator(""), 7.0)
    y = call(impl, "guidance.inpaint", x, center_mask(16), est, short_timesteps(), m.alphas_cumprod, gen(3),
             lambda i, t, x: frames.append(x.clone()))
    return {"inpainted": y, "frames": torch.stack(frames)}


@case("A1.8/anagram", "A1.8", **LOOP_TOL)
def anagram_case(impl):
    m = gaussian_model(8, learned_variance=True)
    x = gaussian((2, 1, 8, 8), 11)
    out = {}
    for name, (view, inverse) in (("flip", ("flip_upside_down", None)), ("rot90", ("rotate90", "rotate270")),
                                  ("rot180", ("rotate180", None)), ("negate", ("negate", None))):
        v = _student_fn(impl, view)
        inv = _student_fn(impl, inverse) if inverse else None
        out[f"view_{name}"] = call(impl, f"guidance.{view}", x)
        e1 = call(impl, "guidance.cfg_estimator", m.estimator("top"), m.estimator(""), 7.0)
        e2 = call(impl, "guidance.cfg_estimator", m.estimator("corner"), m.estimator(""), 7.0)
        est = call(impl, "guidance.anagram_estimator", e1, e2, v, inv)
        out[f"anagram_{name}"] = call(impl, "denoise.sample", est, (2, 1, 8, 8), short_timesteps(),
                                      m.alphas_cumprod, gen(180))
    return out


def _student_fn(impl, name: str):
    """The student's guidance.<name>, wrapped so that its failures read like a guarded call."""
    def fn(x):
        return call(impl, f"guidance.{name}", x)

    return fn


@case("A1.9/hybrid", "A1.9", **LOOP_TOL)
def hybrid_case(impl):
    m = gaussian_model(16, learned_variance=True)
    out = {"kernels": torch.tensor([list(call(impl, "guidance.hybrid_kernel", s)) for s in (8, 16, 28, 64, 256)])}
    x = gaussian((2, 3, 16, 16), 12)
    out["lowpass"] = call(impl, "guidance.lowpass", x, 9, 1.0)
    out["highpass"] = call(impl, "guidance.highpass", x, 9, 1.0)
    e1 = call(impl, "guidance.cfg_estimator", m.estimator("ring"), m.estimator(""), 7.0)
    e2 = call(impl, "guidance.cfg_estimator", m.estimator("stripes"), m.estimator(""), 7.0)
    est = call(impl, "guidance.hybrid_estimator", e1, e2)
    out["hybrid"] = call(impl, "denoise.sample", est, (2, 1, 16, 16), short_timesteps(), m.alphas_cumprod, gen(180))
    return out
