"""The demo's table of contents: every section of the course, in course order.

A section is one entry: its id (the course's numbering), its title, and the function that shows it
(``sec(ctx)``, in ``part_a/`` or ``part_b/``).  A new section: write its function in the file of its
chapter and add its entry here; ``--sections`` selects by id or prefix (:func:`select_sections`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .part_a import denoising, guidance, pretrained
from .part_b import ddpm, denoiser

__all__ = ["Section", "SECTIONS", "SECTION_IDS", "PARTS", "select_sections"]


@dataclass(frozen=True)
class Section:
    """One section of the page: ``fn(ctx)`` fills it."""

    id: str
    title: str
    fn: Callable


SECTIONS = [
    Section("A0", "sampling with the pretrained model", pretrained.sec_a0),
    Section("A1.1", "forward process", denoising.sec_a11),
    Section("A1.2", "classical denoising", denoising.sec_a12),
    Section("A1.3", "one-step denoising", denoising.sec_a13),
    Section("A1.4", "iterative denoising", denoising.sec_a14),
    Section("A1.5", "sampling", denoising.sec_a15),
    Section("A1.6", "classifier-free guidance", guidance.sec_a16),
    Section("A1.7", "image-to-image translation (SDEdit)", guidance.sec_a17),
    Section("A1.7.1", "web and hand-drawn images", guidance.sec_a171),
    Section("A1.7.2", "inpainting", guidance.sec_a172),
    Section("A1.7.3", "text-conditional image-to-image", guidance.sec_a173),
    Section("A1.8", "visual anagrams", guidance.sec_a18),
    Section("A1.9", "hybrid images", guidance.sec_a19),
    Section("B1.1", "UNet", denoiser.sec_b11),
    Section("B1.2", "one-step denoiser", denoiser.sec_b12),
    Section("B1.2.2", "out-of-distribution noise levels", denoiser.sec_b122),
    Section("B2.2", "DDPM training (time conditioning, §2.1)", ddpm.sec_b22),
    Section("B2.3", "DDPM sampling", ddpm.sec_b23),
    Section("B2.5", "guided sampling (class conditioning, §2.4)", ddpm.sec_b25),
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
