"""Reference cases: deterministic runs of the course functions whose outputs are stored in
``data/reference/`` by ``python -m fundiff.reference`` (from ``solutions/``) and compared against
the implementation under test by the graded tests.

A case is a function ``(impl) -> {name: tensor}`` registered with :func:`case`.  Its inputs are
built inside it from fixed seeds on CPU generators (or from files in ``data/``), so the reference
and the graded run see the same numbers on any machine.  Call student code through
:func:`fundiff.grading.call`.  Cases live in the modules of this package, every one of which is
imported by :func:`all_cases`: ``part_a.py`` (forward.py, denoise.py, guidance.py) and ``part_b/``
(one file per graded module: ``unet.py``, ``train.py``, beside the inputs and tiny models they
share).  A new case goes in the file of the module it grades.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ...data import DATA_DIR
from .. import GradingError, compare

REFERENCE_DIR = DATA_DIR / "reference"
MANIFEST = "MANIFEST.json"  # in REFERENCE_DIR: {"sha256": {file name: hex digest}}
_VERIFIED: dict[str, dict[str, torch.Tensor]] = {}  # case name → outputs, read and checked once


@dataclass(frozen=True)
class Case:
    name: str  # 'A1.1/forward_process'
    section: str
    fn: Callable
    atol: float
    rtol: float
    functions: tuple = ()  # ((output name prefix, student function 'module.name'), …), first match wins
    uses: tuple = ()  # the other student functions the case calls (their outputs feed the compared ones)
    lazy: bool = False  # with --fresh, computed when first used, not up front (a slow oracle run)
    #: the outputs are an independent program's run, not the implementation's (``impl`` is not used):
    #: their error against the stored run measures the machine, not an implementation
    oracle: bool = False

    def function_of(self, key: str) -> str | None:
        """The student function whose output the case's output ``key`` is."""
        return next((fn for prefix, fn in self.functions if key.startswith(prefix)), None)

    @property
    def all_functions(self) -> tuple:
        return tuple(dict.fromkeys([fn for _, fn in self.functions] + list(self.uses)))

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / (self.name.replace("/", "__") + ".safetensors")


CASES: dict[str, Case] = {}

#: ``--fresh SEED``: every seed of the cases' inputs is moved by it (0: the stored inputs).  The
#: submission's process inherits it through the environment.
FRESH = [int(os.environ.get("FUNDIFF_FRESH", "0") or 0)]


def set_fresh(seed: int) -> None:
    FRESH[0] = int(seed)
    os.environ["FUNDIFF_FRESH"] = str(int(seed))


def fresh_seed(seed: int) -> int:
    """The seed an input drawn from ``seed`` uses now (itself, unless ``--fresh`` moved it)."""
    return seed if not FRESH[0] else (seed + 1_000_003 * FRESH[0]) % (2 ** 62)


def fresh_offset(n: int) -> int:
    """Which of ``n`` alternatives (e.g. the digit of a class) the inputs use now."""
    return FRESH[0] % n


def fresh_references() -> int:
    """Compute every case's outputs from solutions/ with the current (fresh) inputs and serve them
    as the references (instead of the stored files).  Run before any student code; a ``lazy`` case
    (the stored IFPipeline run, seconds of diffusers) is computed here too, but only when a test
    first asks for it (:func:`load_reference`), so a run of other sections does not pay for it."""
    out = {}
    for name, c in sorted(all_cases().items()):
        if not c.lazy:
            out[name] = _solutions_outputs(name)
    _VERIFIED.clear()
    _VERIFIED.update(out)
    return len(out)


def _solutions_outputs(name: str) -> dict[str, torch.Tensor]:
    from ...impl import load_impl

    torch.manual_seed(0)
    return {k: v.detach().cpu().contiguous() for k, v in run_case(name, load_impl("solutions")).items()}


def case(name: str, section: str, atol: float = 1e-5, rtol: float = 1e-4, functions=None, uses=(), lazy=False,
         oracle=False):
    """Register ``fn(impl) -> {output name: tensor}`` as the reference case ``name``.

    ``functions``: the student function ('module.name') whose output every output is, or a dict
    {output name prefix: function} (first match wins, '' matches all); ``uses``: the other student
    functions the case calls.  A failing comparison names the function of the output that differs."""
    table = tuple({"": functions}.items()) if isinstance(functions, str) else tuple((functions or {}).items())

    def register(fn):
        if name in CASES and CASES[name].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"reference case {name!r} registered twice")
        CASES[name] = Case(name, section, fn, atol, rtol, table, tuple(uses), lazy, oracle)
        return fn

    return register


def all_cases() -> dict[str, Case]:
    """Every registered case (importing each module of this package once)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return CASES


def case_outputs(impl, name: str) -> dict[str, torch.Tensor]:
    """:func:`run_case` with the implementation first (for :func:`fundiff.grading.run_trusted`)."""
    return run_case(name, impl)


def run_case(name: str, impl) -> dict[str, torch.Tensor]:
    """The outputs of case ``name`` on ``impl``."""
    c = all_cases()[name]
    out = c.fn(impl)
    if not isinstance(out, dict) or not all(isinstance(v, torch.Tensor) for v in out.values()):
        raise TypeError(f"case {name} must return {{name: tensor}}, got {type(out).__name__}")
    return out


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest() -> Path:
    """Record the SHA-256 of every reference file (``python -m fundiff.reference`` calls this)."""
    import json

    digests = {c.path.name: file_digest(c.path) for c in all_cases().values() if c.path.is_file()}
    path = REFERENCE_DIR / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": dict(sorted(digests.items()))}, indent=1) + "\n")
    tmp.replace(path)
    return path


def verify_references(reference_dir: Path | None = None) -> int:
    """Read every case's reference outputs into memory and check each file against the manifest's
    SHA-256, before any student code runs; from then on :func:`load_reference` serves them from
    memory.  Raises GradingError when a file is missing, changed or not in the manifest."""
    import json

    from safetensors.torch import load

    folder = reference_dir or REFERENCE_DIR
    try:
        manifest = json.loads((folder / MANIFEST).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GradingError(f"{folder / MANIFEST} is missing or unreadable: run `python -m fundiff.reference` "
                           "with solutions/ present") from None
    import hashlib

    loaded = {}
    for name, c in all_cases().items():
        path = folder / c.path.name
        if not path.is_file():
            raise GradingError(f"reference outputs for {name} missing ({path}): run `python -m fundiff.reference`")
        data = path.read_bytes()
        if manifest.get(path.name) != hashlib.sha256(data).hexdigest():
            raise GradingError(f"{path} does not match {MANIFEST} (changed since `python -m fundiff.reference` "
                               "wrote it): the references cannot be trusted; restore them (git checkout data/reference)")
        loaded[name] = load(data)
    _VERIFIED.clear()
    _VERIFIED.update(loaded)
    return len(loaded)


def load_reference(name: str) -> dict[str, torch.Tensor]:
    """The stored outputs of case ``name`` (from memory once :func:`verify_references` ran)."""
    from safetensors.torch import load_file

    if name in _VERIFIED:
        return dict(_VERIFIED[name])
    if FRESH[0] and _VERIFIED and all_cases()[name].lazy:  # --fresh: computed now, in the grader
        _VERIFIED[name] = _solutions_outputs(name)
        return dict(_VERIFIED[name])
    path = all_cases()[name].path
    if not path.is_file():
        raise GradingError(
            f"reference outputs for {name} missing ({path}): run `python -m fundiff.reference` "
            "with solutions/ present, and commit data/reference/"
        )
    return load_file(str(path))


def check_case(name: str, impl, atol: float | None = None, rtol: float | None = None,
               keys=None) -> dict[str, torch.Tensor]:
    """Run case ``name`` on ``impl`` and compare every output (or ``keys``) with the reference.
    Tolerances: the case's own unless given.  Returns the outputs."""
    from .. import run_trusted

    c = all_cases()[name]
    want = load_reference(name)
    try:
        got = run_trusted(impl, case_outputs, name)
    except GradingError as err:
        err.uses = c.all_functions  # the function that raised is named in the message
        raise
    if not isinstance(got, dict):
        raise GradingError(f"{name}: the case produced {type(got).__name__}, not its outputs", uses=c.all_functions)
    for key in keys or sorted(want):
        if key not in got:
            raise GradingError(f"{name}: the case produced no output {key!r}", function=c.function_of(key),
                               uses=c.all_functions)
        try:
            compare(f"{name} → {key}", got[key], want[key], fn=c.function_of(key),
                    atol=c.atol if atol is None else atol, rtol=c.rtol if rtol is None else rtol)
        except GradingError as err:
            err.uses = c.all_functions
            raise
    return got
