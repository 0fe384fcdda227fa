"""The pytest plugin of the grading suite, loaded wherever fundiff is installed (the ``pytest11``
entry point ``fundiff`` in setup.cfg), so ``--impl`` works from any folder.

Options:
  --impl solutions|exercises|PATH   the implementation graded (default: solutions)
  --gradescope FILE                 also write the Gradescope autograder results.json
  --graded-timeout S, --graded-budget S   a graded test's time limit, and the whole run's
  --visibility PATTERN=VALUE        Gradescope visibility of the tests whose section or name starts
                                    with PATTERN (visible, hidden, after_due_date, after_published)

The implementation runs in a process of its own (:class:`fundiff.grading.remote.RemoteImpl`):
this process builds the inputs, compares and scores, and never imports student code.  The
reference outputs are read and checked against their manifest before the submission's process
starts.

Fixtures: ``impl`` (the :class:`fundiff.impl.Impl` under test), ``solutions`` (the reference
implementation, for ungraded oracle tests; skips where solutions/ is withheld), ``device``.
At the end of a run with graded tests, a table of the score per course section is printed.
Under pytest-xdist (``-n N``) every worker grades in its own submission process and the controller
scores: each graded test's section, title, points and visibility travel with its reports.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..impl import ROOT, ImplError, load_impl, resolve_impl_path
from . import _HINT, DEFAULT_TIMEOUT_S, GradingError
from .sections import section_order, section_title

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
GRADED_PROPERTY = "fundiff_graded"  # a graded test's section, title, points, visibility, on its reports
DEFAULT_BUDGET_S = 900


def pytest_addoption(parser):
    group = parser.getgroup("fundiff grading")
    group.addoption("--impl", default=None,
                    help="implementation to grade: solutions (the default where solutions/ is present), exercises "
                         "(the default elsewhere), or a folder with the five modules")
    group.addoption("--gradescope", metavar="FILE", help="write Gradescope results.json here")
    group.addoption("--graded-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help=f"seconds a graded test may run before it fails (default {DEFAULT_TIMEOUT_S:g})")
    group.addoption("--graded-budget", type=float, default=DEFAULT_BUDGET_S,
                    help="seconds the whole graded run (each worker's, with -n) may take before every test gets a short "
                         f"limit (default {DEFAULT_BUDGET_S})")
    group.addoption("--fresh", type=int, default=None, metavar="SEED",
                    help="grade every case on new inputs drawn from SEED, against references computed from "
                         "solutions/ now (needs solutions/)")
    group.addoption("--visibility", action="append", default=[], metavar="PATTERN=VALUE",
                    help="Gradescope visibility of the tests whose section or name starts with PATTERN "
                         f"({', '.join(VISIBILITIES)}; the last matching one wins; default visible)")


def pytest_configure(config):
    config.addinivalue_line("markers", "graded(section, points, hint): a graded test of a course section")
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")
    config.addinivalue_line("markers", "slow: a test of more than a few seconds")
    config._fundiff_results = Results(started=time.time())
    config.pluginmanager.register(config._fundiff_results, "fundiff-results")
    config._fundiff_remote = None
    if hasattr(config, "workerinput"):
        _share_the_cores(int(config.workerinput.get("workercount", 1)))
    for spec in config.getoption("--visibility") or []:
        pattern, _, value = spec.partition("=")
        if value not in VISIBILITIES:
            raise pytest.UsageError(f"--visibility {spec}: expected PATTERN=one of {', '.join(VISIBILITIES)}")


def _share_the_cores(workers: int) -> None:
    """A pytest-xdist worker (``-n N``) takes its share of the cores for torch, and so do the
    processes it starts (OMP_NUM_THREADS): N workers each using every core run the suite slower than
    one process (the whole suite on 2 cores: 925 s with ``-n 2`` and both workers on both cores, about
    480 s in one process, 356 s with ``-n 2`` and a core each)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // max(1, workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


@dataclass
class Outcome:
    nodeid: str
    section: str
    title: str
    points: float
    passed: bool | None = None  # None: skipped
    output: str = ""
    visibility: str = "visible"
    blamed: str | None = None  # the function of another check this failure was traced to


@dataclass(eq=False)
class Results:
    outcomes: dict = field(default_factory=dict)
    started: float = 0.0

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
        """Record a graded test's outcome: its call phase, or a failed setup/teardown.  Its section,
        title, points and visibility come with the report (set at collection), so the same code
        scores a run in one process and under pytest-xdist, whose controller collects nothing."""
        graded = dict(report.user_properties).get(GRADED_PROPERTY)
        if graded is None or not (report.when == "call" or report.failed or report.skipped):
            return
        o = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid, **graded))
        if report.skipped and report.when != "teardown":
            o.passed = None
        elif report.failed:
            o.passed = False
            o.output = str(report.longreprtext or "")[-4000:]
            o.blamed = dict(report.user_properties).get("fundiff_blamed")
        else:
            o.passed = True


def _prepare_remote(config):
    """Check the references (or compute fresh ones), then make the submission's process and start
    it; once per session, before any student code runs."""
    from .cases import REFERENCE_DIR, verify_references
    from .remote import RemoteImpl

    if config._fundiff_remote is not None:
        return config._fundiff_remote
    try:
        path = resolve_impl_path(impl_option(config))
    except ImplError as err:
        pytest.exit(f"--impl: {err}", returncode=4)
    fresh = config.getoption("--fresh")
    try:
        if fresh:  # new inputs, references from solutions/ computed here before the submission runs
            from .cases import fresh_references, set_fresh

            if not (ROOT / "solutions").is_dir():
                pytest.exit("--fresh needs solutions/ (the instructor's machine, the autograder)", returncode=4)
            set_fresh(fresh)
            fresh_references()
        else:
            verify_references()
    except GradingError as err:
        pytest.exit(f"grading stopped before running any student code: {err}", returncode=3)
    solutions = ROOT / "solutions"
    hidden = [REFERENCE_DIR] + ([solutions] if solutions.is_dir() and solutions.resolve() != path else [])
    read_only = [ROOT]
    results = config.getoption("--gradescope")
    if results:
        folder = Path(results).resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        if len(folder.parts) > 2:  # not / or a top-level folder such as /tmp
            read_only.append(folder)
    remote = RemoteImpl(path, hidden=hidden, read_only=read_only,
                        default_limit=config.getoption("--graded-timeout"),
                        budget=config.getoption("--graded-budget"))
    config._fundiff_remote = remote
    return remote


def pytest_collection_finish(session):
    """With graded tests to run, start the submission's process while pytest finishes setting up."""
    if any(_graded_mark(item) and "impl" in getattr(item, "fixturenames", ()) for item in session.items) \
            and not session.config.option.collectonly:
        _prepare_remote(session.config).prestart()


@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test (``--impl``), in a process of its own.  Before it starts, the
    reference outputs are read into memory and checked against their manifest (or, with
    ``--fresh``, computed from solutions/)."""
    remote = _prepare_remote(request.config)
    yield remote
    remote.close()


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


def impl_option(config) -> str:
    """--impl, or its default: solutions where solutions/ is present, else exercises."""
    value = config.getoption("--impl")
    if value:
        return value
    return "solutions" if (ROOT / "solutions").is_dir() else "exercises"


def _graded_mark(item):
    return item.get_closest_marker("graded")


def _title(item, mark) -> str:
    doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
    what = doc[0].rstrip(".") if doc else item.name
    return f"{section_title(mark.kwargs['section'])}: {what}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        mark = _graded_mark(item)
        if mark:
            from .remote import STARTUP_LIMIT_S

            limit = mark.kwargs.get("timeout") or config.getoption("--graded-timeout")
            item._fundiff_limit = limit
            item.extra_keyword_matches.add(mark.kwargs["section"])  # -k A1.4 selects a section
            # the submission's process is stopped at `limit`; this is the backstop of the grader itself
            item.add_marker(pytest.mark.timeout(limit + STARTUP_LIMIT_S + 30))
            title = _title(item, mark)
            graded = dict(section=mark.kwargs["section"], title=title, points=float(mark.kwargs.get("points", 1.0)),
                          visibility=_visibility(config, mark, title))
            item.user_properties.append((GRADED_PROPERTY, graded))  # the reports carry it to the scorer


def _visibility(config, mark, title: str) -> str:
    value = mark.kwargs.get("visibility") or "visible"
    for spec in config.getoption("--visibility") or []:
        pattern, _, v = spec.partition("=")
        if title.startswith(pattern) or mark.kwargs["section"].startswith(pattern):
            value = v
    return value


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    mark = _graded_mark(item)
    _HINT[0] = mark.kwargs.get("hint") if mark else None
    remote = item.funcargs.get("impl") if mark else None
    if remote is not None and getattr(remote, "is_remote", False):
        remote.begin(getattr(item, "_fundiff_limit", None))
    try:
        yield
    finally:
        _HINT[0] = None
        if remote is not None and getattr(remote, "is_remote", False):
            remote.end()


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
        if getattr(err, "blamed", None):
            report.user_properties.append(("fundiff_blamed", err.blamed))


def pytest_sessionfinish(session, exitstatus):
    remote = getattr(session.config, "_fundiff_remote", None)
    if remote is not None:
        remote.close()  # nothing of the submission runs while the results are written


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller scores the whole run
        return
    results = config._fundiff_results
    table = results.by_section()
    if not table:
        return
    impl_name = impl_option(config)
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
    for line in blame_lines(results):
        tr.write_line(line)
    path = config.getoption("--gradescope")
    if path:
        remote = getattr(config, "_fundiff_remote", None)
        if remote is not None:
            remote.close()
        write_gradescope(results, Path(path), score_table(results, impl_name))
        tr.write_line(f"Gradescope results written to {path}")


def score_table(results: Results, impl_name: str) -> str:
    table = results.by_section()
    lines = [f"fundiff score ({impl_name})", f"{'section':<44} {'tests':>9} {'points':>12}"]
    for section, (passed, n, pts, max_pts) in table.items():
        lines.append(f"{section_title(section):<44} {passed:>4}/{n:<4} {pts:>6g}/{max_pts:<5g}")
    lines.append(f"{'total':<44} {sum(r[0] for r in table.values()):>4}/{sum(r[1] for r in table.values()):<4} "
                 f"{sum(r[2] for r in table.values()):>6g}/{sum(r[3] for r in table.values()):<5g}")
    return "\n".join(lines + blame_lines(results))


def blame_lines(results: Results) -> list[str]:
    """One line per function that failed its own check and made tests of other functions fail:
    those tests lose their points as usual (the score is what works); this says where to start."""
    from .blame import section_of

    by_fn: dict[str, list] = {}
    for o in results.outcomes.values():
        if o.passed is False and o.blamed:
            by_fn.setdefault(o.blamed, []).append(o)
    lines = []
    for fn, outs in sorted(by_fn.items(), key=lambda kv: section_order(section_of(kv[0]))):
        sections = ", ".join(sorted({o.section for o in outs}, key=section_order))
        lines.append(f"fix {fn} ({section_of(fn)}) first: {len(outs)} failing test(s) of {sections} "
                     f"({sum(o.points for o in outs):g} points) fail because it fails its own check")
    return lines


def write_gradescope(results: Results, path: Path, table: str = "") -> None:
    """Gradescope's autograder results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/,
    "Output format"): the total ``score``, ``execution_time`` in seconds, the score table as the
    submission's ``output`` (``output_format`` "text"), and per test its ``name``, ``score``,
    ``max_score``, ``status`` (passed/failed), ``output`` and ``visibility``."""
    tests = []
    for o in sorted(results.outcomes.values(), key=lambda o: (section_order(o.section), o.nodeid)):
        if o.passed is None:
            continue
        tests.append({"name": o.title, "score": o.points if o.passed else 0.0, "max_score": o.points,
                      "status": "passed" if o.passed else "failed", "output": o.output,
                      "output_format": "text", "visibility": o.visibility})
    data = {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "execution_time": round(time.time() - results.started, 1) if results.started else 0,
            "output": "```\n" + table + "\n```" if table else "", "output_format": "md",
            "test_output_format": "text", "stdout_visibility": "hidden", "tests": tests}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
