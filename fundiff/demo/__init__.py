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

The package, file by file:

    cli.py        the command: options, running the chosen sections, the timings (``__main__.py`` calls it)
    sections.py   the table of contents: id, title and function of every section, in course order
    part_a/       Part A's sections, one file per chapter (setup.py: the plans, images, timesteps they use)
    part_b/       Part B's sections, one file per chapter (checkpoints.py: the models they show)
    context.py    :class:`Ctx`, what a section gets: options, the student's code, the model, the page
    guard.py      the guard around the student's code ("not implemented yet: …", errors shown, not raised)
    page.py       the HTML writer (``index.html`` beside its pictures)
    examples.py   Part A's tricks on the bundled model as plain PNG grids (``python -m fundiff.bundled examples``)

A new section: a function ``sec_<id>(ctx)`` in the file of its chapter, and one entry in
``sections.py``.
"""
import time

_PROCESS_T0 = time.perf_counter()  # before torch is imported: the command's whole wall time

from .cli import (DEFAULT_OUT, DEFAULT_SEED, TARGET_S, benchmark, check_model_available, main,  # noqa: E402
                  parse_args, run_section)
from .context import Ctx  # noqa: E402
from .guard import NotImplementedYet, guarded  # noqa: E402
from .sections import PARTS, SECTION_IDS, SECTIONS, Section, select_sections  # noqa: E402

__all__ = ["main", "parse_args", "benchmark", "run_section", "check_model_available", "Ctx", "guarded",
           "NotImplementedYet", "Section", "SECTIONS", "SECTION_IDS", "PARTS", "select_sections", "DEFAULT_OUT",
           "DEFAULT_SEED", "TARGET_S"]
