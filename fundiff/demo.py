"""The whole course at work, offline, as a web page: ``python -m fundiff.demo``.

Every deliverable of SPEC.md, in course order: Part A (§0–§1.9) with the bundled MNIST model (or
DeepFloyd IF with ``--model deepfloyd`` on a GPU), Part B (§1.1–§2.5) with the shipped checkpoints
(or trained from scratch with ``--train``).  Writes ``OUT/index.html`` with its pictures and GIFs
beside it (``OUT/images/``; relative links, so the folder opens from the file system), and prints
each section's progress and time, then the total.

The student's code is reached only through ``fundiff.impl.load_impl(--impl)``: a section whose
functions are not written yet shows "not implemented yet: <module.function>", a section whose code
raises shows the error, and the other sections still run.

    python -m fundiff.demo                          # solutions, everything (about 2 min on 2 cores)
    python -m fundiff.demo --impl exercises         # your code: what works so far
    python -m fundiff.demo --sections A1.4 B2.5     # some sections only
    python -m fundiff.demo --no-fast                # sampling in float32 (slower)

Sections: A0 A1.1 A1.2 A1.3 A1.4 A1.5 A1.6 A1.7 A1.7.1 A1.7.2 A1.7.3 A1.8 A1.9 B1.1 B1.2 B1.2.2
B2.2 B2.3 B2.5 (a prefix such as ``A1.7`` or ``B`` selects every section under it).
"""
from __future__ import annotations

import argparse
import copy
import csv
import html
import json
import platform
import sys
import time
import traceback

_PROCESS_T0 = time.perf_counter()  # before torch is imported: the command's whole wall time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .fast import fast_model
from .data import DATA_DIR, load_digits
from .impl import ImplError, load_impl

DEFAULT_OUT = "fundiff-demo"
DEFAULT_SEED = 180
#: The full default run's wall-clock target on 2 CPU cores (measured by :func:`benchmark`, not tested).
TARGET_S = 180


# ---------------------------------------------------------------------------------------------
# Guarding the student's code
# ---------------------------------------------------------------------------------------------

class NotImplementedYet(Exception):
    """A student function the demo needs is missing or raises NotImplementedError."""

    def __init__(self, where: str, detail: str = ""):
        super().__init__(where)
        self.where, self.detail = where, detail

    def message(self) -> str:
        return f"not implemented yet: {self.where}" + (f" ({self.detail})" if self.detail else "")


def _innermost_impl_frame(err: BaseException, root: Path) -> str | None:
    """'module.function' of the innermost traceback frame inside the implementation folder."""
    tb, found = err.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(str(root)):
            found = f"{Path(code.co_filename).stem}.{getattr(code, 'co_qualname', code.co_name)}"
        tb = tb.tb_next
    return found


def _short_traceback(err: BaseException, limit: int = 4) -> str:
    lines = traceback.format_exception(type(err), err, err.__traceback__, limit=-limit)
    return "".join(lines).strip()


# ---------------------------------------------------------------------------------------------
# The context every section gets
# ---------------------------------------------------------------------------------------------

@dataclass
class Ctx:
    """What a section needs: the options, the implementation, the output folder, the model, and the
    helpers that save pictures and add items to the section's part of the page."""

    args: argparse.Namespace
    out: Path
    impl: object
    device: torch.device
    section: str = ""
    items: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    _model: object = None
    _model_error: BaseException | None = None
    _cache: dict = field(default_factory=dict)

    # -- options ------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.args.seed

    @property
    def quick(self) -> bool:
        return self.args.quick

    @property
    def fast(self) -> bool:
        return self.args.fast

    def gen(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded with --seed (+ offset): every section starts from the seed, so
        its pictures do not depend on which other sections ran."""
        return torch.Generator().manual_seed(self.seed + offset)

    # -- the student's code -------------------------------------------------------------------
    def f(self, qualname: str) -> Callable:
        """The implementation's function 'module.name' (NotImplementedYet when it is missing)."""
        module_name, _, attr = qualname.partition(".")
        module = self.impl.module(module_name)  # ImplError: the module does not import
        fn = getattr(module, attr, None)
        if fn is None:
            raise NotImplementedYet(qualname, f"{module_name}.py has no {attr}")
        return fn

    def has(self, qualname: str) -> bool:
        module_name, _, attr = qualname.partition(".")
        try:
            return hasattr(self.impl.module(module_name), attr)
        except ImplError:
            return False

    # -- the pretrained model (Part A) --------------------------------------------------------
    @property
    def model(self):
        if self._model is None and self._model_error is None:
            from .models import load_pretrained

            kw = {}
            if self.args.model == "deepfloyd":
                kw = {k: v for k, v in dict(path=self.args.deepfloyd_path, prompt_embeds=self.args.prompt_embeds).items() if v}
            elif self.args.bundled_path:
                kw = {"path": self.args.bundled_path}
            try:
                self._model = load_pretrained(self.args.model, device=self.device, **kw)
                if self.fast and self.args.model == "bundled":
                    self._model = fast_model(self._model, self.device)  # the fast path (fundiff.fast)
            except Exception as err:  # noqa: BLE001 - shown on the page, once
                self._model_error = err
        if self._model_error is not None:
            raise RuntimeError(f"could not load the pretrained model {self.args.model!r}: "
                               f"{type(self._model_error).__name__}: {self._model_error}") from self._model_error
        return self._model

    @property
    def plan(self) -> dict:
        """What Part A shows with this model (prompts, sizes), its prompts mapped onto the ones the
        model understands (a DeepFloyd prompt-embedding file may hold other prompts)."""
        if "plan" not in self._cache:
            plan = PLANS["deepfloyd" if self.args.model == "deepfloyd" else "bundled"]
            self._cache["plan"] = resolve_plan(plan, self.model.prompts, self.model.null_prompt)
        return self._cache["plan"]

    # -- page items ---------------------------------------------------------------------------
    def _file(self, name: str, ext: str) -> tuple[Path, str]:
        stem = f"{self.section.replace('.', '_')}_{name}"
        rel = f"images/{stem}.{ext}"
        return self.out / rel, rel

    def scale_for(self, h: int, target: int = 112) -> int:
        return max(1, round(target / h))

    def image(self, name: str, images: torch.Tensor, caption: str, nrow: int = 8, scale: int | None = None,
              value_range=None, width: int | None = None) -> str:
        """Save a batch (B, C, H, W) as one PNG grid and add it with its caption."""
        from .pictures import save_grid

        path, rel = self._file(name, "png")
        save_grid(images.detach().float().cpu(), path, nrow=nrow, value_range=value_range or self.vrange,
                  scale=scale or self.scale_for(images.shape[-2]))
        self.items.append({"kind": "image", "src": rel, "caption": caption, "width": width})
        return rel

    def gif(self, name: str, frames: list, caption: str, nrow: int = 8, scale: int | None = None,
            value_range=None, duration_ms: int = 80) -> str:
        """Save frames (each (B, C, H, W)) as a looping GIF and add it."""
        from .pictures import save_gif

        path, rel = self._file(name, "gif")
        frames = [f.detach().float().cpu() for f in frames]
        save_gif(frames, path, nrow=nrow, value_range=value_range or self.vrange,
                 scale=scale or self.scale_for(frames[0].shape[-2]), duration_ms=duration_ms)
        self.items.append({"kind": "image", "src": rel, "caption": caption})
        return rel

    def table(self, name: str, columns: list, rows: list, caption: str, scale: int | None = None,
              value_range=None) -> None:
        """A labelled grid: rows = [(label, [image (C, H, W) or (1, C, H, W) or None, …]), …];
        every cell is its own PNG."""
        out_rows = []
        for r, (label, cells) in enumerate(rows):
            srcs = []
            for c, img in enumerate(cells):
                if img is None:
                    srcs.append(None)
                    continue
                img = img if img.ndim == 4 else img[None]
                path, rel = self._file(f"{name}_r{r}c{c}", "png")
                _save_png(img, path, value_range or self.vrange, scale or self.scale_for(img.shape[-2]))
                srcs.append(rel)
            out_rows.append((label, srcs))
        self.items.append({"kind": "table", "columns": columns, "rows": out_rows, "caption": caption})

    def text(self, text: str) -> None:
        self.items.append({"kind": "text", "text": text})

    def pre(self, text: str) -> None:
        self.items.append({"kind": "pre", "text": text})

    @property
    def vrange(self):
        return self._cache.get("vrange", (-1.0, 1.0))

    def part(self, fn: Callable, *args, **kwargs) -> bool:
        """Run one independent part of a section (e.g. one checkpoint): a failure is shown and
        recorded, and the section goes on.  Returns whether it worked."""
        kind = guarded(self, fn, *args, **kwargs)
        return kind is None


def _save_png(img: torch.Tensor, path: Path, value_range, scale: int) -> None:
    """One image (1, C, H, W) as a PNG (a batch: one row), upscaled ×scale (nearest)."""
    from PIL import Image

    from .pictures import grid

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(img.detach().float().cpu(), img.shape[0], value_range, scale, pad=0 if img.shape[0] == 1 else 2)).save(path)


def guarded(ctx: Ctx, fn: Callable, *args, **kwargs) -> str | None:
    """Run fn; on failure add a 'missing' or 'error' item, print it, and return its kind."""
    try:
        fn(*args, **kwargs)
        return None
    except NotImplementedYet as err:
        msg, kind, detail = err.message(), "missing", ""
    except NotImplementedError as err:
        where = _innermost_impl_frame(err, ctx.impl.path) or "a function of the implementation"
        msg, kind, detail = NotImplementedYet(where, str(err)).message(), "missing", ""
    except ImplError as err:
        msg, kind, detail = f"the implementation could not be imported: {err}", "error", ""
    except FileNotFoundError as err:  # a shipped file is absent: the message says which
        msg, kind, detail = f"{type(err).__name__}: {err}", "error", ""
    except Exception as err:  # noqa: BLE001 - a section's failure must not stop the demo
        msg, kind, detail = f"{type(err).__name__}: {err}", "error", _short_traceback(err)
    ctx.items.append({"kind": kind, "text": msg, "detail": detail})
    ctx.problems.append(kind)
    print(f"    {'not implemented yet' if kind == 'missing' else 'error'}: {msg.removeprefix('not implemented yet: ')}",
          file=sys.stderr, flush=True)
    return kind


# ---------------------------------------------------------------------------------------------
# What each model shows (prompts, sizes)
# ---------------------------------------------------------------------------------------------

PLANS = {
    "bundled": {
        "a0_prompts": ["3", "7", "9"], "a0_steps": (10, 40), "a0_per_prompt": 4, "a0_guidance": 7.0,
        "generic": "",  # the course's "a high quality photo": here the unconditional prompt
        "generic_label": "'' (the null prompt: unconditional)",
        "cfg_prompts": ["2", "5"],
        "img2img_prompt": "3",
        "anagrams": [("6", "9"), ("0", "8"), ("1", "7"), ("2", "5")],
        "hybrids": [("0", "1"), ("8", "3"), ("1", "7")],
        "sdedit_istarts": (1, 3, 5, 7, 10, 20),
    },
    "deepfloyd": {
        "a0_prompts": ["an oil painting of a snowy mountain village", "a man wearing a hat", "a rocket ship"],
        "a0_steps": (20, 40), "a0_per_prompt": 1, "a0_guidance": 7.0,
        "generic": "a high quality photo", "generic_label": "'a high quality photo'",
        "cfg_prompts": ["a high quality photo"],
        "img2img_prompt": "a rocket ship",
        "anagrams": [("an oil painting of people around a campfire", "an oil painting of an old man"),
                     ("a lithograph of waterfalls", "a lithograph of a skull"),
                     ("a photo of a dog", "a photo of a man")],
        "hybrids": [("a lithograph of a skull", "a lithograph of waterfalls"),
                    ("a photo of a dog", "a photo of a man"),
                    ("a rocket ship", "a pencil")],
        "sdedit_istarts": (1, 3, 5, 7, 10, 20),
    },
}

def resolve_plan(plan: dict, known: list | None, null: str = "") -> dict:
    """``plan`` with every prompt the model does not know (``known``: its prompts, None = any text)
    replaced by one it knows (the non-null ones in turn), so the demo runs with any embedding file."""
    if known is None:
        return dict(plan)
    spare = [p for p in known if p != null] or [null]
    used = [0]

    def fix(p):
        if p in known:
            return p
        used[0] += 1
        return spare[(used[0] - 1) % len(spare)]

    out = dict(plan)
    for key in ("a0_prompts", "cfg_prompts"):
        out[key] = [fix(p) for p in plan[key]]
    for key in ("anagrams", "hybrids"):
        out[key] = [(fix(a), fix(b)) for a, b in plan[key]]
    out["img2img_prompt"] = fix(plan["img2img_prompt"])
    if plan["generic"] not in known:
        out["generic"] = fix(plan["generic"])
        out["generic_label"] = repr(out["generic"])
    return out


# ---------------------------------------------------------------------------------------------
# Part A helpers
# ---------------------------------------------------------------------------------------------

def to_model_images(ctx: Ctx, x01: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] → the model's shape and value range."""
    model = ctx.model
    c, h, w = model.image_shape
    if tuple(x01.shape[-2:]) != (h, w):
        x01 = F.interpolate(x01, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    if x01.shape[1] != c:  # grey ↔ colour
        x01 = x01.mean(1, keepdim=True).expand(-1, c, -1, -1)
    lo, hi = model.value_range
    return (x01.clamp(0, 1) * (hi - lo) + lo).contiguous()


TEST_DIGITS = (7, 4, 2)  # the test image (a 7; the course has one photograph) and two more
DRAWN_DIGITS = ("2", "4", "7", "3")


def test_images(ctx: Ctx) -> dict[str, list[tuple[str, torch.Tensor]]]:
    """The Part A pictures in the model's shape and range, each (label, (1, C, H, W)):
    {'test': the test image and 2 more, 'web': typeset digits, 'drawn': hand-drawn digits,
    'masks': inpainting masks (1, 1, H, W) of 0/1}.  ``--image PATH`` pictures replace the test
    images; the others are the ones fundiff.bundled ships in data/images/ (held-out digits if absent)."""
    if "images" in ctx._cache:
        return ctx._cache["images"]
    model = ctx.model
    images: dict[str, list] = {"test": [], "web": [], "drawn": [], "masks": []}
    for p in ctx.args.image or []:
        images["test"].append((Path(p).name, model.load_image(p)))
    try:
        from . import bundled

        paths = bundled.test_image_paths()
    except (ImportError, AttributeError, OSError):
        paths = {}
    by_name = {p.stem: p for kind in paths.values() for p in kind}

    def load(stem, label):
        path = by_name.get(stem)
        return None if path is None else (label, model.load_image(path))

    if not images["test"]:
        images["test"] = [x for d in TEST_DIGITS if (x := load(f"heldout_{d}", f"held-out {d}"))]
    images["web"] = [x for d in (5, 3) if (x := load(f"typeset_{d}", f"typeset {d} (web)"))]
    images["drawn"] = [x for d in DRAWN_DIGITS if (x := load(f"drawn_{d}", f"hand-drawn {d}"))]
    for where in ("center", "top", "right"):
        if f"mask_{where}" in by_name:
            m = bundled.load_mask(by_name[f"mask_{where}"])
            if tuple(m.shape[-2:]) != tuple(model.image_shape[-2:]):
                m = (F.interpolate(m, size=model.image_shape[-2:], mode="nearest") > 0.5).float()
            images["masks"].append((where, m))
    if not images["test"]:  # no shipped pictures: held-out digits
        x, y = load_digits("heldout")
        picks = [int((y == d).nonzero()[0]) for d in TEST_DIGITS]
        images["test"] = [(f"held-out {int(y[i])}", to_model_images(ctx, x[i:i + 1])) for i in picks]
    if not images["masks"]:
        images["masks"] = [(name, m[None]) for name, m in inpaint_masks(model.image_shape)]
    ctx._cache["images"] = images
    return images


def timesteps_of(ctx: Ctx) -> list:
    """The course's strided timesteps [990, 960, …, 30, 0] from the implementation."""
    T = ctx.model.num_train_timesteps if hasattr(ctx.model, "num_train_timesteps") else len(ctx.model.alphas_cumprod)
    start = (T - 1) // 30 * 30 if T != 1000 else 990
    return list(ctx.f("denoise.strided_timesteps")(start, 30))


def est_of(ctx: Ctx, prompt: str, guidance: float | None = None):
    """The model's estimator for ``prompt``, with the implementation's CFG at ``guidance`` if given."""
    model = ctx.model
    if guidance is None:
        return model.estimator(prompt)
    return ctx.f("guidance.cfg_estimator")(model.estimator(prompt), model.estimator(model.null_prompt), guidance)


def fmt_prompt(p: str) -> str:
    return repr(p)


def rows_of(images: list) -> torch.Tensor:
    return torch.cat([im for _, im in images])


# ---------------------------------------------------------------------------------------------
# Part A sections
# ---------------------------------------------------------------------------------------------

def reference_sample(model, prompt: str, n: int, steps: int, guidance: float, gen: torch.Generator):
    """§0: the pretrained model's own sampler (diffusers' DDPMScheduler on its ᾱ, learned variance
    when the model predicts v), with classifier-free guidance: no course code involved."""
    from diffusers import DDPMScheduler

    abar = model.alphas_cumprod.double()
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    betas = (1 - abar / prev).clamp(max=0.999).float()
    est_c, est_u = model.estimator(prompt), model.estimator(model.null_prompt)
    x = torch.randn((n, *model.image_shape), generator=gen).to(model.device)
    sched = None
    for t in _scheduler_timesteps(len(abar), steps):
        eps_c, v = est_c(x, t)
        eps_u, _ = est_u(x, t)
        eps = eps_u + guidance * (eps_c - eps_u)
        if sched is None:
            own = getattr(model, "scheduler", None)
            sched = copy.deepcopy(own) if own is not None else DDPMScheduler(
                num_train_timesteps=len(abar), trained_betas=betas.numpy(),
                variance_type="learned_range" if v is not None else "fixed_small", clip_sample=True)
            sched.set_timesteps(steps)
        out = eps if v is None else torch.cat([eps, v], 1)
        x = sched.step(out, t, x, generator=gen).prev_sample
    return x


def _scheduler_timesteps(T: int, steps: int) -> list:
    ratio = T // steps
    return [i * ratio for i in range(steps - 1, -1, -1)]


def sec_a0(ctx: Ctx):
    plan, model = ctx.plan, ctx.model
    n = 2 if ctx.quick else plan["a0_per_prompt"]
    steps_list = plan["a0_steps"][:1] if ctx.quick else plan["a0_steps"]
    rows, cols = [], []
    for steps in steps_list:
        cols.append(f"{steps} steps")
    for p in plan["a0_prompts"]:
        cells = []
        for steps in steps_list:
            x = reference_sample(model, p, n, steps, plan["a0_guidance"], ctx.gen())
            cells.append(x)
        rows.append((f"prompt {fmt_prompt(p)}", cells))
    ctx.table("samples", cols, [(lab, [c.cpu() for c in cells]) for lab, cells in rows],
              f"{model.name}: {n} samples per prompt with the model's own DDPM sampler (diffusers' "
              f"DDPMScheduler, 'leading' spacing), classifier-free guidance γ = {plan['a0_guidance']:g}, "
              f"seed {ctx.seed}, num_inference_steps = {', '.join(map(str, steps_list))}.",
              scale=max(1, 112 * 1 // model.image_shape[1]))

    def which():
        T = len(model.alphas_cumprod)
        for steps in steps_list:
            ts = ctx.f("denoise.inference_timesteps")(steps, T)
            ok = list(ts) == _scheduler_timesteps(T, steps)
            shown = ", ".join(map(str, list(ts)[:4])) + (", …, " + str(list(ts)[-1]) if len(ts) > 4 else "")
            ctx.text(f"Your inference_timesteps({steps}, {T}) = [{shown}] ({len(ts)} timesteps): "
                     + ("the ones the sampler visited." if ok else "NOT the ones diffusers' sampler visits."))

    if ctx.has("denoise.inference_timesteps"):
        ctx.part(which)


def noisy_versions(ctx: Ctx, x0: torch.Tensor, ts=(250, 500, 750)):
    gen = ctx.gen()
    out = []
    for t in ts:
        eps = torch.randn(x0.shape, generator=gen)
        out.append(ctx.f("forward.forward_process")(x0, eps, t, ctx.model.alphas_cumprod))
    return out


def sec_a11(ctx: Ctx):
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    ctx.table("forward", ["original", "t = 250", "t = 500", "t = 750"], [(label, [x0] + xs)],
              f"x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (your forward.forward_process) on the test image ({label}), "
              f"ε ~ N(0, I) from seed {ctx.seed}, ᾱ of the {ctx.model.name} model (T = {len(ctx.model.alphas_cumprod)}).")


BLUR_KERNELS = (3, 5, 7, 9)
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)


def best_blur(ctx: Ctx, x_noisy, x0):
    """(kernel, σ, blurred): the implementation's best_blur over the kernel/σ grid (scaled to the image)."""
    scale = ctx.model.image_shape[-1] / 28
    ks = tuple(2 * round((k - 1) / 2 * scale) + 1 for k in BLUR_KERNELS)
    ss = tuple(s * scale for s in BLUR_SIGMAS)
    return ctx.f("denoise.best_blur")(x_noisy, x0, ks, ss)


def sec_a12(ctx: Ctx):
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    blurred, cols = [], []
    for t, x in zip((250, 500, 750), xs):
        k, s, y = best_blur(ctx, x, x0)
        blurred.append(y)
        cols.append(f"t = {t}: kernel {k}, σ = {s:g}")
    ctx.table("blur", cols, [("noisy", xs), ("Gaussian blur", blurred)],
              f"Classical denoising of the test image ({label}) with your denoise.best_blur: at each t the "
              f"kernel size and σ with the lowest error to the original, searched over kernels "
              f"{list(BLUR_KERNELS)} and σ {list(BLUR_SIGMAS)} (scaled to {ctx.model.image_shape[-1]} px).")


def sec_a13(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    label, x0 = test_images(ctx)["test"][0]
    xs = noisy_versions(ctx, x0)
    est = model.estimator(plan["generic"])
    outs = []
    for t, x in zip((250, 500, 750), xs):
        eps, _ = est(x, t)
        outs.append(ctx.f("denoise.estimate_x0")(x, eps, t, model.alphas_cumprod))
    ctx.table("one_step", ["original", "noisy", "one-step estimate x̂₀"],
              [(f"t = {t}", [x0, x, y]) for t, x, y in zip((250, 500, 750), xs, outs)],
              f"One-step denoising x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t (your denoise.estimate_x0) of the test image "
              f"({label}), ε̂ from the {model.name} model with prompt {plan['generic_label']}, seed {ctx.seed}.")


def sec_a14(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    x0 = rows_of(imgs)
    ts = timesteps_of(ctx)
    i_start = 10
    t0 = ts[i_start]
    gen = ctx.gen()
    eps = torch.randn(x0.shape, generator=gen)
    x_t = ctx.f("forward.forward_process")(x0, eps, t0, model.alphas_cumprod)
    est = model.estimator(plan["generic"])
    frames, shown = [x_t], {}

    def keep(i, t, x):
        frames.append(x.detach().clone())
        if (i - i_start) % 5 == 4 or i == len(ts) - 1:
            shown[ts[i + 1] if i + 1 < len(ts) else -1] = x.detach().clone()

    final = ctx.f("denoise.iterative_denoise")(x_t, est, ts, i_start, model.alphas_cumprod, gen, callback=keep)
    eps_hat, _ = est(x_t, t0)
    one = ctx.f("denoise.estimate_x0")(x_t, eps_hat, t0, model.alphas_cumprod)
    k, s, blurred = best_blur(ctx, x_t, x0)
    steps = list(shown.items())
    ctx.table("steps", [f"t = {t0} (start)"] + [f"t = {t}" if t >= 0 else "x₀ (final)" for t, _ in steps],
              [(lab, [x_t[j]] + [x[j] for _, x in steps]) for j, (lab, _) in enumerate(imgs)],
              f"Iterative denoising (your denoise.iterative_denoise) from i_start = {i_start} (t = {t0}) over "
              f"the strided timesteps {ts[0]}, {ts[1]}, …, {ts[-2]}, {ts[-1]} ({len(ts)} of them): every 5th step. "
              f"Prompt {plan['generic_label']}, seed {ctx.seed}.")
    ctx.table("compare", ["original", f"noisy (t = {t0})", "iterative", "one-step", f"blur (k {k}, σ {s:g})"],
              [(lab, [x0[j], x_t[j], final[j], one[j], blurred[j]]) for j, (lab, _) in enumerate(imgs)],
              "The final result beside one-step denoising of the same x_t and the best Gaussian blur.")
    ctx.gif("steps", frames, f"All {len(frames) - 1} steps of the iterative denoising (GIF, looping).",
            nrow=len(imgs), scale=ctx.scale_for(model.image_shape[1], 140))


def sec_a15(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    n = 5
    ts = timesteps_of(ctx)
    x = ctx.f("denoise.sample")(model.estimator(plan["generic"]), (n, *model.image_shape), ts,
                                model.alphas_cumprod, ctx.gen())
    ctx.image("samples", x, f"{n} samples (your denoise.sample: the loop from pure noise, i_start = 0, "
              f"{len(ts)} strided timesteps) with prompt {plan['generic_label']}, no guidance, seed {ctx.seed}.",
              nrow=n)


def sec_a16(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    n, gamma = 5, 7.0
    ts = timesteps_of(ctx)
    rows = []
    gen = ctx.gen()
    for p in plan["cfg_prompts"][:1] if ctx.quick else plan["cfg_prompts"]:
        x = ctx.f("denoise.sample")(est_of(ctx, p, gamma), (n, *model.image_shape), ts, model.alphas_cumprod, gen)
        rows.append((f"prompt {fmt_prompt(p)}", list(x)))
    ctx.table("cfg", [f"sample {i + 1}" for i in range(n)], rows,
              f"{n} samples per prompt with classifier-free guidance (your guidance.cfg_estimator) γ = {gamma:g}: "
              f"ε = ε_u + γ(ε_c − ε_u), ε_u from the null prompt ''; seed {ctx.seed} (one generator, rows in turn).")


def sdedit_rows(ctx: Ctx, name: str, imgs: list, est, what: str):
    model, plan = ctx.model, ctx.plan
    ts = timesteps_of(ctx)
    istarts = plan["sdedit_istarts"][::2] if ctx.quick else plan["sdedit_istarts"]
    x0 = rows_of(imgs)
    outs = []
    for i_start in istarts:
        outs.append(ctx.f("guidance.sdedit")(x0, est, ts, i_start, model.alphas_cumprod, ctx.gen()))
    ctx.table(name, [f"i_start = {i} (t = {ts[i]})" for i in istarts] + ["original"],
              [(lab, [o[j] for o in outs] + [x0[j]]) for j, (lab, _) in enumerate(imgs)],
              f"SDEdit (your guidance.sdedit): noise the image to timesteps[i_start], then denoise from there; "
              f"{what}; seed {ctx.seed} for every i_start.")


def sec_a17(ctx: Ctx):
    plan = ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    sdedit_rows(ctx, "sdedit", imgs, ctx.model.estimator(plan["generic"]),
                f"prompt {plan['generic_label']} (classifier-free guidance against the null prompt would change nothing)")


def sec_a171(ctx: Ctx):
    imgs = test_images(ctx)
    web, drawn = imgs.get("web", []), imgs.get("drawn", [])
    if not web and not drawn:
        ctx.text("No web or hand-drawn pictures found (fundiff.bundled ships them in data/images/; pass "
                 "--image PATH for your own).")
        return
    chosen = web[:1] + drawn[:1 if ctx.quick else 3]
    sdedit_rows(ctx, "web_drawn", chosen, ctx.model.estimator(ctx.plan["generic"]),
                f"a typeset (web) digit and hand-drawn digits, prompt {ctx.plan['generic_label']}")


def inpaint_masks(shape) -> list:
    """Three masks (1 where new content goes) for (C, H, W) images: a central square, the top half,
    the right third."""
    _, h, w = shape
    m1 = torch.zeros(1, h, w)
    m1[:, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1
    m2 = torch.zeros(1, h, w)
    m2[:, : h // 2] = 1
    m3 = torch.zeros(1, h, w)
    m3[:, :, 2 * w // 3:] = 1
    return [("centre", m1), ("top", m2), ("right", m3)]


def sec_a172(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    imgs = test_images(ctx)["test"][: 1 if ctx.quick else 3]
    masks = test_images(ctx)["masks"][: len(imgs)]
    imgs = imgs[: len(masks)]
    x0 = rows_of(imgs)
    mask = torch.cat([m for _, m in masks])
    ts = timesteps_of(ctx)
    out = ctx.f("guidance.inpaint")(x0, mask, model.estimator(plan["generic"]), ts, model.alphas_cumprod, ctx.gen())
    lo, hi = model.value_range
    shown_mask = mask.expand(-1, model.image_shape[0], -1, -1) * (hi - lo) + lo
    hole = x0 * (1 - mask) + lo * mask
    ctx.table("inpaint", ["original", "mask (white = new)", "kept part", "inpainted"],
              [(f"{lab}, {mname}", [x0[j], shown_mask[j], hole[j], out[j]])
               for j, ((lab, _), (mname, _)) in enumerate(zip(imgs, masks))],
              f"Inpainting (your guidance.inpaint): after every step x_t ← m·x_t + (1−m)·forward(x_orig, t) "
              f"(the original re-noised to the current t); prompt {plan['generic_label']}, {len(ts)} strided "
              f"timesteps, seed {ctx.seed}.")


def sec_a173(ctx: Ctx):
    plan = ctx.plan
    p, gamma = plan["img2img_prompt"], 7.0
    imgs = test_images(ctx)
    chosen = imgs["test"][:1] + ([] if ctx.quick else imgs.get("drawn", [])[:1])
    sdedit_rows(ctx, "text_img2img", chosen, est_of(ctx, p, gamma),
                f"prompt {fmt_prompt(p)} with classifier-free guidance γ = {gamma:g}")


def sec_a18(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    gamma, n = 7.0, 2
    ts = timesteps_of(ctx)
    flip = ctx.f("guidance.flip_upside_down")
    rows = []
    for p1, p2 in plan["anagrams"][:1] if ctx.quick else plan["anagrams"]:
        est = ctx.f("guidance.anagram_estimator")(est_of(ctx, p1, gamma), est_of(ctx, p2, gamma), flip)
        x = ctx.f("denoise.sample")(est, (n, *model.image_shape), ts, model.alphas_cumprod, ctx.gen())
        upside = torch.flip(x, dims=[-2])
        rows.append((f"{fmt_prompt(p1)} / flipped {fmt_prompt(p2)}",
                     [c for j in range(n) for c in (x[j], upside[j])]))
    ctx.table("anagrams", [c for j in range(n) for c in (f"sample {j + 1}: upright", "upside down")], rows,
              f"Visual anagrams (your guidance.anagram_estimator with flip_upside_down): "
              f"ε = (ε₁(x_t) + flip(ε₂(flip(x_t))))/2, each ε with CFG γ = {gamma:g}; upright it should read "
              f"as the first prompt, flipped upside down (height axis) as the second. Seed {ctx.seed}.")


def sec_a19(ctx: Ctx):
    model, plan = ctx.model, ctx.plan
    gamma, n = 7.0, 2
    ts = timesteps_of(ctx)
    size = model.image_shape[-1]
    if ctx.has("guidance.hybrid_kernel"):
        k, s = ctx.f("guidance.hybrid_kernel")(size)
    else:
        s_ = size / 64
        k, s = 2 * round(16 * s_) + 1, 2.0 * s_
    rows = []
    for lo_p, hi_p in plan["hybrids"][:1] if ctx.quick else plan["hybrids"]:
        est = ctx.f("guidance.hybrid_estimator")(est_of(ctx, lo_p, gamma), est_of(ctx, hi_p, gamma), k, s)
        x = ctx.f("denoise.sample")(est, (n, *model.image_shape), ts, model.alphas_cumprod, ctx.gen())
        rows.append((lo_p, hi_p, x))
    big = ctx.scale_for(model.image_shape[1], 224)
    tiny = F.interpolate(torch.cat([x for *_, x in rows]).float(), scale_factor=0.5, mode="area")
    ctx.table("hybrids_large", [f"sample {j + 1}" for j in range(n)],
              [(f"far: {fmt_prompt(a)}, near: {fmt_prompt(b)}", list(x)) for a, b, x in rows],
              f"Hybrid images, large (×{big}): close up the high frequencies should show the 'near' prompt. "
              f"Your guidance.hybrid_estimator: ε = lowpass(ε₁) + highpass(ε₂), Gaussian kernel {k}, σ = {s:g} "
              f"(the course's 33 / 2 at 64 px, scaled to {size} px), CFG γ = {gamma:g}, seed {ctx.seed}.",
              scale=big)
    ctx.table("hybrids_small", [f"sample {j + 1}" for j in range(n)] * 2,
              [(f"{fmt_prompt(a)} / {fmt_prompt(b)}", list(x) + list(tiny[r * n:(r + 1) * n]))
               for r, (a, b, x) in enumerate(rows)],
              f"The same hybrids small (native {size} px, then half size): from afar the low frequencies "
              "should show the 'far' prompt.", scale=1)


# ---------------------------------------------------------------------------------------------
# Part B helpers
# ---------------------------------------------------------------------------------------------

PARTB_EPOCHS = {"denoiser": (1, 5), "time": (5, 20), "class": (5, 20)}


def epochs_of(ctx: Ctx, kind: str) -> tuple:
    """The epochs whose checkpoints a section shows: the shipped ones, or --train's sample epochs."""
    if ctx.args.train:
        from .train import COURSE

        return tuple(COURSE[kind].sample_epochs)
    return PARTB_EPOCHS[kind]


def partb_run_dir(ctx: Ctx, kind: str) -> Path:
    return ctx.out / "train" / kind


def ensure_trained(ctx: Ctx, kind: str) -> None:
    """--train: train ``kind`` with the course's settings (once per demo run, resumable)."""
    if not ctx.args.train or ctx._cache.get(f"trained-{kind}"):
        return
    from .train import COURSE, train

    run = partb_run_dir(ctx, kind)
    cfg = COURSE[kind]
    print(f"    training the {kind} model from scratch ({cfg.epochs} epochs) into {run} …", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    train(cfg, run, device=ctx.device, fast=ctx.fast, resume=True, impl=str(ctx.impl.path), progress=True)
    ctx._cache[f"trained-{kind}"] = True
    print(f"    trained {kind} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def partb_model(ctx: Ctx, kind: str, epoch: int) -> torch.nn.Module:
    """The Part B model ``kind`` after ``epoch`` epochs: shipped, or trained by --train; built with the
    implementation's unet.py; wrapped for reduced-precision sampling on the fast path."""
    from .train import load_shipped, load_weights

    if ctx.args.train:
        ensure_trained(ctx, kind)
        model = load_weights(partb_run_dir(ctx, kind) / f"epoch_{epoch:03d}.safetensors", str(ctx.impl.path), ctx.device)
    else:
        model = load_shipped(kind, epoch, impl=str(ctx.impl.path), device=ctx.device)
    return model


def sampling_model(ctx: Ctx, model):
    return fast_model(model, ctx.device) if ctx.fast else model


def partb_losses(ctx: Ctx, kind: str):
    """(losses, steps per epoch, source) of the run that made the checkpoints, or None."""
    if ctx.args.train:
        ensure_trained(ctx, kind)
        candidates = [partb_run_dir(ctx, kind) / "losses.csv"]
    else:
        candidates = [DATA_DIR / "partb" / f"{kind}_losses.csv"]
    for path in candidates:
        if path.is_file():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            losses = [float(r["loss"]) for r in rows]
            epochs = [int(r["epoch"]) for r in rows]
            per_epoch = epochs.count(1) or None
            return losses, per_epoch, path
    return None


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(DATA_DIR.resolve().parent))
    except ValueError:
        return str(path)


def loss_curve(ctx: Ctx, kind: str, title: str) -> None:
    from .pictures import plot_losses

    got = partb_losses(ctx, kind)
    if got is None:
        raise FileNotFoundError(f"the loss log of the {kind} model's training is not shipped (expected "
                                f"data/partb/{kind}_losses.csv); --train trains the model and shows its curve")
    losses, per_epoch, src = got
    path, rel = ctx._file(f"{kind}_loss", "png")
    plot_losses(losses, path, title, per_epoch)
    epochs = len(losses) // per_epoch if per_epoch else "?"
    epochs = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    ctx.items.append({"kind": "image", "src": rel, "caption":
                      f"Training loss of the {kind} model, one value per batch ({len(losses)} steps, {epochs}, "
                      f"dotted lines between epochs; log scale), from {_shown_path(src)}."})


def heldout_digits(n_per_class: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits("heldout")
    idx = torch.cat([(y == d).nonzero()[:n_per_class, 0] for d in range(10)])
    return x[idx], y[idx]


SIGMAS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)


# ---------------------------------------------------------------------------------------------
# Part B sections
# ---------------------------------------------------------------------------------------------

def sec_b11(ctx: Ctx):
    unet = ctx.impl.unet
    lines = []
    x = torch.randn(4, 1, 28, 28, generator=ctx.gen())
    t = torch.rand(4, generator=ctx.gen())
    c = F.one_hot(torch.arange(4), 10).float()
    for name, build, args in [("UNet(1, 128)", lambda: unet.UNet(1, 128), (x,)),
                              ("TimeConditionalUNet(1, 64)", lambda: unet.TimeConditionalUNet(1, 64), (x, t)),
                              ("ClassConditionalUNet(1, 10, 64)", lambda: unet.ClassConditionalUNet(1, 10, 64), (x, t, c))]:
        def one(name=name, build=build, args=args):
            m = build().eval()
            with torch.no_grad():
                y = m(*args)
            n = sum(p.numel() for p in m.parameters())
            lines.append(f"{name:34s} {n:>10,d} parameters   input {tuple(x.shape)} → output {tuple(y.shape)}")
        ctx.part(one)
    if lines:
        ctx.pre("\n".join(lines))
        ctx.text("Your unet.py's three networks, built and run on a random batch (seed "
                 f"{ctx.seed}); the pictures below come from them with the shipped weights.")


def sec_b12(ctx: Ctx):
    x, _ = heldout_digits()
    x = x[:5] if ctx.quick else x

    def noising():
        add_noise = ctx.f("train.add_noise")
        noise = torch.randn(x.shape, generator=ctx.gen())
        cols = [add_noise(x, s, noise) for s in SIGMAS]
        ctx.table("noising", [], [(f"σ = {s:g}", list(c)) for s, c in zip(SIGMAS, cols)],
                  f"z = x + σ·ε (your train.add_noise) on held-out digits, one ε per digit (seed {ctx.seed}).",
                  value_range=(0, 1), scale=3)

    ctx.part(noising)
    ctx.part(loss_curve, ctx, "denoiser", "§1.2 one-step denoiser (σ = 0.5, D = 128)")

    def after(epoch):
        z = ctx.f("train.add_noise")(x, 0.5, torch.randn(x.shape, generator=ctx.gen(1)))
        model = partb_model(ctx, "denoiser", epoch)
        with torch.no_grad():
            d = model(z.to(ctx.device)).float().cpu()
        ctx.image(f"denoised_e{epoch}", torch.cat([x, z, d]),
                  f"After epoch {epoch}: held-out digits (top), noised at σ = 0.5 (middle), denoised by the "
                  f"UNet (bottom).", nrow=len(x), value_range=(0, 1), scale=3)

    for epoch in epochs_of(ctx, "denoiser"):
        ctx.part(after, epoch)


def sec_b122(ctx: Ctx):
    add_noise = ctx.f("train.add_noise")
    x, _ = heldout_digits()
    picks = x[[3, 8]] if not ctx.quick else x[[3]]
    gen = ctx.gen()
    epoch = epochs_of(ctx, "denoiser")[-1]
    model = partb_model(ctx, "denoiser", epoch)
    rows = []
    for j in range(len(picks)):
        noise = torch.randn(picks[j:j + 1].shape, generator=gen)
        zs = torch.cat([add_noise(picks[j:j + 1], s, noise) for s in SIGMAS])
        with torch.no_grad():
            ds = model(zs.to(ctx.device)).float().cpu()
        rows += [(f"digit {j + 1} noisy", list(zs)), ("denoised", list(ds))]
    ctx.table("ood", [f"σ = {s:g}" for s in SIGMAS], rows,
              f"Out of distribution: the denoiser trained at σ = 0.5 (epoch {epoch}) on "
              f"held-out digits noised at other σ (seed {ctx.seed}).", value_range=(0, 1), scale=3)


def ddpm_grid(ctx: Ctx, kind: str, epoch: int, n: int, c=None, guidance: float = 5.0):
    """Sample with the implementation's ddpm_sample; returns (x, GIF frames, seconds)."""
    from .train import COURSE

    model = sampling_model(ctx, partb_model(ctx, kind, epoch))
    cfg = COURSE[kind]
    schedule = ctx.f("train.ddpm_schedule")(cfg.beta1, cfg.beta2, cfg.num_ts)
    frames = []

    def keep(t, x):
        if t % 10 == 0:
            frames.append(x.detach().float().clamp(0, 1).cpu())

    t0 = time.perf_counter()
    x = ctx.f("train.ddpm_sample")(model, (n, 1, 28, 28), schedule, ctx.gen(), c=c, guidance_scale=guidance,
                                   callback=keep)
    return x.float(), frames, time.perf_counter() - t0


def sec_b22(ctx: Ctx):
    loss_curve(ctx, "time", "§2.2 time-conditioned UNet (D = 64)")


TIME_SAMPLES = 20  # two rows of 10: the time model's samples (the class model's 40 are the slow part)


def show_ddpm_samples(ctx: Ctx, kind: str, epoch: int, n: int, what: str, c=None, guidance: float = 5.0):
    """The grid and the GIF of ``n`` DDPM samples of the shipped ``kind`` model after ``epoch``."""
    x, frames, secs = ddpm_grid(ctx, kind, epoch, n, c=c, guidance=guidance)
    ctx.image(f"samples_e{epoch}", x.clamp(0, 1),
              f"After epoch {epoch}: {what} (T = 300, seed {ctx.seed}; {secs:.0f} s"
              f"{', bfloat16 autocast' if ctx.fast else ''}).", nrow=10, value_range=(0, 1), scale=3)
    ctx.gif(f"samples_e{epoch}", frames, f"The denoising after epoch {epoch}, every 10th step (GIF).",
            nrow=10, value_range=(0, 1), scale=3)


def sec_b23(ctx: Ctx):
    n = 10 if ctx.quick else TIME_SAMPLES
    for epoch in epochs_of(ctx, "time"):
        ctx.part(show_ddpm_samples, ctx, "time", epoch, n,
                 f"{n} DDPM samples of the time-conditioned UNet (your train.ddpm_sample, x_T ~ N(0, I) down to t = 0)")


def sec_b25(ctx: Ctx):
    per = 1 if ctx.quick else 4
    gamma = 5.0
    c = F.one_hot(torch.arange(10).repeat(per), 10).float()
    ctx.part(loss_curve, ctx, "class", "§2.4 class-conditioned UNet (D = 64)")
    for epoch in epochs_of(ctx, "class"):
        ctx.part(show_ddpm_samples, ctx, "class", epoch, len(c),
                 f"{per} samples of every digit (columns 0–9) with classifier-free guidance γ = {gamma:g} "
                 "(your train.ddpm_sample / cfg_noise)", c=c, guidance=gamma)


# ---------------------------------------------------------------------------------------------
# The sections, in course order
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    id: str
    title: str
    fn: Callable


SECTIONS = [
    Section("A0", "sampling with the pretrained model", sec_a0),
    Section("A1.1", "forward process", sec_a11),
    Section("A1.2", "classical denoising", sec_a12),
    Section("A1.3", "one-step denoising", sec_a13),
    Section("A1.4", "iterative denoising", sec_a14),
    Section("A1.5", "sampling", sec_a15),
    Section("A1.6", "classifier-free guidance", sec_a16),
    Section("A1.7", "image-to-image translation (SDEdit)", sec_a17),
    Section("A1.7.1", "web and hand-drawn images", sec_a171),
    Section("A1.7.2", "inpainting", sec_a172),
    Section("A1.7.3", "text-conditional image-to-image", sec_a173),
    Section("A1.8", "visual anagrams", sec_a18),
    Section("A1.9", "hybrid images", sec_a19),
    Section("B1.1", "UNet", sec_b11),
    Section("B1.2", "one-step denoiser", sec_b12),
    Section("B1.2.2", "out-of-distribution noise levels", sec_b122),
    Section("B2.2", "DDPM training (time conditioning, §2.1)", sec_b22),
    Section("B2.3", "DDPM sampling", sec_b23),
    Section("B2.5", "guided sampling (class conditioning, §2.4)", sec_b25),
]
SECTION_IDS = [s.id for s in SECTIONS]
PARTS = {"A": "Part A — the power of a pretrained diffusion model",
         "B": "Part B — diffusion models from scratch (MNIST)"}


def select_sections(wanted: list[str] | None) -> list[Section]:
    """The sections named (exactly, or by prefix: 'A1.7' selects A1.7, A1.7.1, …; 'B' all of Part B)."""
    if not wanted:
        return list(SECTIONS)
    chosen = []
    for w in wanted:
        hits = [s for s in SECTIONS if s.id == w or s.id.startswith(w + ".") or (len(w) == 1 and s.id[0] == w.upper())]
        if not hits:
            raise SystemExit(f"unknown section {w!r}: expected one of {' '.join(SECTION_IDS)} (or A / B)")
        chosen += [s for s in hits if s not in chosen]
    return [s for s in SECTIONS if s in chosen]


# ---------------------------------------------------------------------------------------------
# Running the demo
# ---------------------------------------------------------------------------------------------

def run_section(ctx: Ctx, sec: Section, index: int, total: int) -> dict:
    ctx.section, ctx.items, ctx.problems = sec.id, [], []
    ctx._cache["vrange"] = (0.0, 1.0) if sec.id.startswith("B") else (-1.0, 1.0)
    print(f"[{index:2d}/{total}] {sec.id:7s} {sec.title} …", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad() if sec.id.startswith("A") else _nullctx():
        guarded(ctx, sec.fn, ctx)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    pictures = any(it["kind"] in ("image", "table", "pre") for it in ctx.items)
    if not ctx.problems:
        status = "ok"
    elif pictures:
        status = "partial"
    else:
        status = ctx.problems[0]
    print(f"        {sec.id:7s} {status:8s} {secs:6.1f} s", file=sys.stderr, flush=True)
    return {"id": sec.id, "title": sec.title, "status": status, "seconds": secs, "cpu_seconds": cpu,
            "items": list(ctx.items)}


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _threads() -> str:
    n = torch.get_num_threads()
    return f"{n} torch thread{'' if n == 1 else 's'}"


def page_meta(ctx: Ctx, total: float, argv: list[str]) -> list[str]:
    e = html.escape
    cmd = "python -m fundiff.demo" + ("" if not argv else " " + " ".join(argv))
    model = ctx.args.model + (f" ({ctx._model!r})" if ctx._model is not None else "")
    return [
        f"Command: <code>{e(cmd)}</code>",
        f"Implementation: <code>{e(str(ctx.impl.path))}</code> · model: <code>{e(model)}</code> · "
        f"seed {ctx.seed} · device {e(str(ctx.device))} · "
        f"{'reduced-precision sampling (bfloat16 autocast) for Part A and Part B' if ctx.fast else 'float32 throughout'}"
        f"{' · Part B trained from scratch (--train)' if ctx.args.train else ''}"
        f"{' · quick (reduced) run' if ctx.quick else ''}",
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S')} in {total:.1f} s on {e(platform.machine())} "
        f"with {_threads()}, torch {e(torch.__version__)}.",
    ]


def parse_args(argv=None) -> argparse.Namespace:
    from .fast import add_cli_flags

    p = argparse.ArgumentParser(prog="python -m fundiff.demo", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="sections: " + " ".join(SECTION_IDS))
    p.add_argument("--impl", default="solutions", help="solutions (default) | exercises | PATH to your folder")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}/)")
    p.add_argument("--sections", nargs="+", metavar="ID", help="only these sections (ids or prefixes: A1.7, B)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of every section (default {DEFAULT_SEED})")
    p.add_argument("--device", default=None, help="cpu | cuda | … (default: cuda when available, else cpu)")
    p.add_argument("--model", default="bundled", choices=["bundled", "deepfloyd"],
                   help="Part A's pretrained model: the bundled MNIST model (offline) or DeepFloyd IF (GPU + weights)")
    p.add_argument("--deepfloyd-path", help="DeepFloyd IF stage 1: hub id or local folder (default IF-I-XL-v1.0)")
    p.add_argument("--prompt-embeds", help="DeepFloyd: the course's prompt-embedding .pth file")
    p.add_argument("--bundled-path", help=argparse.SUPPRESS)  # another copy of data/bundled (development)
    p.add_argument("--image", action="append", metavar="PATH", help="use this picture as a Part A test image (repeatable)")
    p.add_argument("--train", action="store_true",
                   help="train Part B from scratch with fundiff.train (course settings; slow) instead of loading "
                        "the shipped checkpoints")
    add_cli_flags(p, "sampling (Part A's bundled model and Part B)")
    p.add_argument("--quick", action="store_true", help="a reduced run: fewer pictures per section (for tests)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    return p.parse_args(argv)


def check_model_available(args) -> str | None:
    """A clear message when --model deepfloyd cannot run here, else None."""
    if args.model != "deepfloyd":
        return None
    dev = torch.device(args.device) if args.device else None
    if args.deepfloyd_path and dev is not None and dev.type == "cpu":
        return None  # asked for explicitly (a local copy, e.g. a small IF-shaped test model, on the CPU)
    if not torch.cuda.is_available() or (dev is not None and dev.type != "cuda"):
        return ("--model deepfloyd needs a CUDA GPU (DeepFloyd IF stage 1 runs in fp16, ~10 GB) and its weights "
                "(accept the licence of DeepFloyd/IF-I-XL-v1.0 on the Hugging Face hub and log in, or pass "
                "--deepfloyd-path FOLDER) plus the course's prompt embeddings (--prompt-embeds FILE.pth). "
                "This machine has no usable GPU: run without --model to use the bundled MNIST model, which "
                "runs everything offline on a CPU.")
    return None


def main(argv=None, started: float | None = None) -> int:
    """The command line (``started``: perf_counter at process start, to count imports in the total)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    msg = check_model_available(args)
    if msg:
        print(msg, file=sys.stderr)
        return 2
    try:
        impl = load_impl(args.impl)
    except ImplError as err:
        print(f"fundiff.demo: {err}", file=sys.stderr)
        return 2
    sections = select_sections(args.sections)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.fast is None:
        from .fast import default_enabled

        args.fast = default_enabled(device)
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    ctx = Ctx(args=args, out=out, impl=impl, device=device)
    print(f"fundiff demo → {out}/index.html  (impl {impl.path}, seed {args.seed}, device {device}, "
          f"{'fast' if args.fast else 'fp32'}{', quick' if args.quick else ''})", file=sys.stderr, flush=True)
    if started is not None:  # the whole command, imports included
        t_start, cpu_start = started, 0.0
    else:
        t_start, cpu_start = time.perf_counter(), time.process_time()
    results = []
    title = "fundiff — the course at work"
    for i, sec in enumerate(sections, 1):
        results.append(run_section(ctx, sec, i, len(sections)))
        # the page after every section: a long run can be watched, a killed one leaves a page
        from .webpage import write_page

        write_page(out / "index.html", title, page_meta(ctx, time.perf_counter() - t_start, argv), results, PARTS)
    total = time.perf_counter() - t_start
    from .webpage import write_page

    write_page(out / "index.html", title, page_meta(ctx, total, argv), results, PARTS)
    timings = {
        "total_s": round(total, 2), "cpu_s": round(time.process_time() - cpu_start, 1),
        "sections": {r["id"]: {"status": r["status"], "seconds": round(r["seconds"], 2),
                               "cpu_seconds": round(r["cpu_seconds"], 2)} for r in results},
        "fast": args.fast, "quick": args.quick, "impl": str(impl.path), "threads": torch.get_num_threads(),
    }
    (out / "timings.json").write_text(json.dumps(timings, indent=1))
    counts = {k: sum(r["status"] == k for r in results) for k in ("ok", "partial", "missing", "error")}
    cpu = time.process_time() - cpu_start
    target = (f"; target for the full default run: under {TARGET_S} s on 2 CPU cores"
              if len(sections) == len(SECTIONS) and not args.quick and not args.train else "")
    print(f"total {total:.1f} s (CPU {cpu:.0f} s, {_threads()}{target}): {counts['ok']} ok, "
          f"{counts['partial']} partly, {counts['missing']} not implemented yet, {counts['error']} with errors "
          f"→ {(out / 'index.html').resolve()}", file=sys.stderr, flush=True)
    return 0


def benchmark(argv: list[str] | None = None) -> dict:
    """Run the demo (default: the full default run into a temporary folder) and return its
    timings: {'total_s', 'cpu_s', 'sections': {id: {'status', 'seconds'}}, …}.  The speed target of
    the full default run is :data:`TARGET_S` seconds on 2 CPU cores."""
    import tempfile

    argv = list(argv or [])
    with tempfile.TemporaryDirectory(prefix="fundiff-demo-") as tmp:
        if "--out" not in argv:
            argv += ["--out", tmp]
        out = Path(argv[argv.index("--out") + 1])
        main(argv)
        return json.loads((out / "timings.json").read_text())


if __name__ == "__main__":
    sys.exit(main(started=_PROCESS_T0))
