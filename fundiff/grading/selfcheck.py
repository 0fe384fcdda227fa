"""Grading an implementation test by test in this process: the grader's own checks of itself.

:func:`grade` runs the graded tests of ``tests/`` (the section files ``test_[ab]*.py``) on an
implementation and returns what each one scored and said, with the same messages as a pytest run
(:func:`fundiff.grading.blame.explain` included).  It is for implementations the project wrote
itself, the correct variants of ``tests/variants/`` and the planted bugs of
``tests/test_mutations.py``: with a local :class:`fundiff.impl.Impl` nothing is sandboxed and no
time limit applies, which is what makes a whole graded run take seconds instead of a fresh
interpreter per implementation.  Submissions are graded by the pytest plugin, never by this.

:func:`first_function` reads the function a failure message names first, :func:`max_error_ratio`
measures how much of each reference case's tolerance an implementation uses.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from ..impl import ROOT
from . import _HINT, GradingError
from .blame import named_first

TEST_DIR = ROOT / "tests"


@dataclass
class Result:
    test: str  # 'test_a14_iterative.py::test_iterative_denoise_matches_reference'
    section: str
    points: float
    passed: bool
    message: str = ""
    function: str | None = None  # the function the failure is about
    blamed: str | None = None  # the dependency it was traced to, if any


def graded_tests(test_dir: Path = TEST_DIR):
    """(test id, function, the graded mark's kwargs, parameters) of every graded test, parametrized
    ones once per parameter value, in file order."""
    if str(test_dir) not in sys.path:
        sys.path.insert(0, str(test_dir))
    for path in sorted(test_dir.glob("test_[ab][0-9]*.py")):
        module = importlib.import_module(path.stem)
        for name, fn in vars(module).items():
            marks = getattr(fn, "pytestmark", []) if name.startswith("test_") else []
            graded = [m for m in marks if m.name == "graded"]
            if not graded:
                continue
            cases = [{}]
            for m in (m for m in marks if m.name == "parametrize"):
                names = [n.strip() for n in m.args[0].split(",")]
                cases = [{**c, **dict(zip(names, v if len(names) > 1 else (v,)))} for c in cases for v in m.args[1]]
            for params in cases:
                suffix = f"[{'-'.join(map(str, params.values()))}]" if params else ""
                yield f"{path.name}::{name}{suffix}", fn, graded[0].kwargs, params


def grade(impl, sections=None, test_dir: Path = TEST_DIR) -> list[Result]:
    """Run every graded test (of ``sections`` only, when given) on ``impl``; one :class:`Result` each."""
    results = []
    for test, fn, mark, params in graded_tests(test_dir):
        section = mark["section"]
        if sections is not None and section not in sections:
            continue
        _HINT[0] = mark.get("hint")
        try:
            fn(impl=impl, **params)
            results.append(Result(test, section, float(mark.get("points", 1.0)), True))
        except GradingError as err:
            results.append(Result(test, section, float(mark.get("points", 1.0)), False, f"[{section}] {err}",
                                  getattr(err, "function", None), getattr(err, "blamed", None)))
        except Exception as err:  # noqa: BLE001 - a raw error is a message of the grader's to fix
            results.append(Result(test, section, float(mark.get("points", 1.0)), False,
                                  f"[{section}] {type(err).__name__}: {err}"))
        finally:
            _HINT[0] = None
    return results


def first_function(message: str) -> str | None:
    """The graded function ('module.name') a failure message names first."""
    return named_first(message.split("] ", 1)[-1])


def max_error_ratio(impl, names=None) -> dict[str, float]:
    """For each reference case (or those in ``names``): the largest |got − want| / (atol + rtol·|want|)
    over its outputs, i.e. how much of the case's tolerance ``impl`` uses (≤ 1 passes).  Oracle cases
    (an independent program's run, which ``impl`` does not enter) are left out: their error is the
    machine's."""
    import torch

    from .cases import all_cases, load_reference, run_case

    out = {}
    for name, c in sorted(all_cases().items()):
        if (names is not None and name not in names) or c.oracle:
            continue
        got, want = run_case(name, impl), load_reference(name)
        worst = 0.0
        for key, w in want.items():
            g, w = got[key].detach().double(), w.double()
            err = (g - w).abs()
            if c.atol == 0 and c.rtol == 0:
                worst = max(worst, float("inf") if err.max() > 0 else 0.0)
            else:
                worst = max(worst, float((err / (c.atol + c.rtol * w.abs())).max()))
        out[name] = worst
        torch.manual_seed(0)
    return out
