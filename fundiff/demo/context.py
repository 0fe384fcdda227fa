"""What every demo section gets: :class:`Ctx`, the run's options, the student's code, the model and
the page.

A section is a function ``sec(ctx)``.  It reaches the student's functions only through
``ctx.f("module.function")`` (missing → "not implemented yet"), Part A's pretrained model through
``ctx.model`` (and what to show with it through ``ctx.plan``), and adds to its part of the page with
``ctx.image`` / ``ctx.gif`` / ``ctx.table`` / ``ctx.text`` / ``ctx.pre``; ``ctx.part(fn, …)`` runs an
independent piece whose failure is shown without stopping the section.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..fast import fast_model
from ..impl import ImplError
from .guard import NotImplementedYet, guarded
from .part_a.setup import PLANS, resolve_plan

__all__ = ["Ctx"]


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
    def full(self) -> bool:
        """--full: the course's sample counts where the default run shows fewer (to fit 180 s)."""
        return self.args.full

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
            from ..models import load_pretrained

            kw = {}
            if self.args.model == "deepfloyd":
                kw = {k: v for k, v in dict(path=self.args.deepfloyd_path, prompt_embeds=self.args.prompt_embeds).items() if v}
            elif self.args.model == "emoji" and getattr(self.args, "emoji_path", None):
                kw = {"path": self.args.emoji_path}
            elif self.args.model == "bundled" and self.args.bundled_path:
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
            plan = PLANS[self.args.model if self.args.model in PLANS else "bundled"]
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
        from ..pictures import save_grid

        path, rel = self._file(name, "png")
        save_grid(images.detach().float().cpu(), path, nrow=nrow, value_range=value_range or self.vrange,
                  scale=scale or self.scale_for(images.shape[-2]))
        self.items.append({"kind": "image", "src": rel, "caption": caption, "width": width})
        return rel

    def gif(self, name: str, frames: list, caption: str, nrow: int = 8, scale: int | None = None,
            value_range=None, duration_ms: int = 80) -> str:
        """Save frames (each (B, C, H, W)) as a looping GIF and add it."""
        from ..pictures import save_gif

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

    from ..pictures import grid

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(img.detach().float().cpu(), img.shape[0], value_range, scale, pad=0 if img.shape[0] == 1 else 2)).save(path)
