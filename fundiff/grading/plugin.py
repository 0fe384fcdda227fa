"""The pytest plugin of the grading suite (loaded by ``tests/conftest.py``).

Options:
  --impl solutions|exercises|PATH   the implementation graded (default: solutions)
  --gradescope FILE                 also write the Gradescope autograder results.json

Fixtures: ``impl`` (the :class:`fundiff.impl.Impl` under test), ``solutions`` (the reference
implementation, for ungraded oracle tests; skips where solutions/ is withheld), ``device``.
At the end of a run with graded tests, a table of the score per course section is printed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..impl import ImplError, load_impl
from . import _HINT, DEFAULT_TIMEOUT_S, GradingError
from .sections import section_order, section_title


def pytest_addoption(parser):
    group = parser.getgroup("fundiff grading")
    group.addoption("--impl", default="solutions",
                    help="implementation to grade: solutions (default), exercises, or a folder with the five modules")
    group.addoption("--gradescope", metavar="FILE", help="write Gradescope results.json here")
    group.addoption("--graded-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help=f"seconds a graded test may run before it fails (default {DEFAULT_TIMEOUT_S:g})")


def pytest_configure(config):
    config.addinivalue_line("markers", "graded(section, points, hint): a graded test of a course section")
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")
    config.addinivalue_line("markers", "slow: a test of more than a few seconds")
    config._fundiff_results = Results()
    config.pluginmanager.register(config._fundiff_results, "fundiff-results")


@dataclass
class Outcome:
    nodeid: str
    section: str
    title: str
    points: float
    passed: bool | None = None  # None: skipped
    output: str = ""


@dataclass(eq=False)
class Results:
    outcomes: dict = field(default_factory=dict)

    def by_section(self):
        table = {}
        for o in self.outcomes.values():
            if o.passed is None:
                continue
            row = table.setdefault(o.section, [0, 0, 0.0, 0.0])
            row[0] += bool(o.passed)
            row[1] += 1
            row[2] += o.points if o.passed else 0.0
            row[3] += o.points
        return dict(sorted(table.items(), key=lambda kv: section_order(kv[0])))

    def pytest_runtest_logreport(self, report):
        """Record a graded test's outcome: its call phase, or a failed setup/teardown."""
        o = self.outcomes.get(report.nodeid)
        if o is None or not (report.when == "call" or report.failed or report.skipped):
            return
        if report.skipped and report.when != "teardown":
            o.passed = None
        elif report.failed:
            o.passed = False
            o.output = str(report.longreprtext or "")[-4000:]
        else:
            o.passed = True


@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test (``--impl``)."""
    try:
        return load_impl(request.config.getoption("--impl"))
    except ImplError as err:
        pytest.exit(f"--impl: {err}", returncode=4)


@pytest.fixture(scope="session")
def solutions():
    """The reference implementation, for ungraded checks; skipped where solutions/ is withheld."""
    try:
        return load_impl("solutions")
    except ImplError:
        pytest.skip("solutions/ is not present")


@pytest.fixture(scope="session")
def device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _graded_mark(item):
    return item.get_closest_marker("graded")


def _title(item, mark) -> str:
    doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
    what = doc[0].rstrip(".") if doc else item.name
    return f"{section_title(mark.kwargs['section'])}: {what}"


def pytest_collection_modifyitems(config, items):
    results = config._fundiff_results
    for item in items:
        mark = _graded_mark(item)
        if mark:
            limit = mark.kwargs.get("timeout") or config.getoption("--graded-timeout")
            item.add_marker(pytest.mark.timeout(limit))
            results.outcomes[item.nodeid] = Outcome(item.nodeid, mark.kwargs["section"], _title(item, mark),
                                                    float(mark.kwargs.get("points", 1.0)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    mark = _graded_mark(item)
    _HINT[0] = mark.kwargs.get("hint") if mark else None
    try:
        yield
    finally:
        _HINT[0] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    mark = _graded_mark(item)
    if not mark or call.excinfo is None:
        return
    err = call.excinfo.value
    if isinstance(err, (GradingError, ImplError)):
        # The message is written for the student: show it without the harness's stack.
        report.longrepr = f"[{mark.kwargs['section']}] {err}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config._fundiff_results
    table = results.by_section()
    if not table:
        return
    impl_name = config.getoption("--impl")
    tr = terminalreporter
    tr.section(f"fundiff score ({impl_name})")
    total, max_total = 0.0, 0.0
    tr.write_line(f"{'section':<44} {'tests':>9} {'points':>12}")
    for section, (passed, n, pts, max_pts) in table.items():
        total += pts
        max_total += max_pts
        tr.write_line(f"{section_title(section):<44} {passed:>4}/{n:<4} {pts:>6g}/{max_pts:<5g}")
    tr.write_line(f"{'total':<44} {sum(r[0] for r in table.values()):>4}/{sum(r[1] for r in table.values()):<4} "
                  f"{total:>6g}/{max_total:<5g}")
    path = config.getoption("--gradescope")
    if path:
        write_gradescope(results, Path(path))
        tr.write_line(f"Gradescope results written to {path}")


def write_gradescope(results: Results, path: Path) -> None:
    """Gradescope's autograder format: {score, max_score, tests: [{name, score, max_score, output}]}."""
    tests = []
    for o in sorted(results.outcomes.values(), key=lambda o: (section_order(o.section), o.nodeid)):
        if o.passed is None:
            continue
        tests.append({"name": o.title, "score": o.points if o.passed else 0.0, "max_score": o.points,
                      "output": o.output, "visibility": "visible"})
    data = {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "tests": tests}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
