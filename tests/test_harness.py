"""Tests of the grading harness itself (ungraded): exercises in step with solutions, every graded
test failing on the stubs, the Gradescope file, robust grading of broken student code."""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fundiff import exercises
from fundiff.grading import GradingError, call, compare
from fundiff.grading.cases import REFERENCE_DIR, all_cases
from fundiff.grading.sections import SECTIONS
from fundiff.impl import MODULES, ROOT, ImplError, load_impl
from parallel import concurrently

SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
needs_solutions = pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="solutions/ withheld")


def run_pytest(*args, timeout=300):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@needs_solutions
def test_committed_exercises_are_generated_from_solutions():
    diff = exercises.differences()
    assert diff == "", "exercises/ is out of date: run `python -m fundiff.exercises`\n" + diff[:3000]


def api(path: Path) -> dict:
    """{qualified name: (signature, docstring)} of a module's functions, classes and methods."""
    tree = ast.parse(path.read_text())
    out = {"<module>": ("", ast.get_docstring(tree))}

    def visit(node, prefix=""):
        for child in node.body:
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = prefix + child.name
                sig = ast.unparse(child.args) if isinstance(child, ast.FunctionDef) else \
                    ",".join(ast.unparse(b) for b in child.bases)
                out[name] = (sig, ast.get_docstring(child))
                if isinstance(child, ast.ClassDef):
                    visit(child, name + ".")

    visit(tree)
    return out


@needs_solutions
@pytest.mark.parametrize("module", MODULES)
def test_exercises_have_the_names_signatures_and_docstrings_of_solutions(module):
    sol, ex = SOLUTIONS / f"{module}.py", EXERCISES / f"{module}.py"
    if not sol.is_file():
        pytest.skip(f"solutions/{module}.py not written yet")
    assert api(ex) == api(sol)


def test_every_stub_raises_with_its_section():
    for module in MODULES:
        path = EXERCISES / f"{module}.py"
        if path.is_file():
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
            for line in text.splitlines():
                if line.lstrip().startswith("raise NotImplementedError("):
                    section = line.split('NotImplementedError("')[1].split(":")[0]
                    assert section in SECTIONS, line


def test_marker_errors_are_clear():
    with pytest.raises(exercises.MarkerError, match="never closed"):
        exercises.strip_solutions("def f():\n    # BEGIN SOLUTION A1.1: x\n    return 1\n", "f.py")
    with pytest.raises(exercises.MarkerError, match="without BEGIN"):
        exercises.strip_solutions("    # END SOLUTION\n", "f.py")
    stub = exercises.strip_solutions('def f():\n    """doc"""\n    # BEGIN SOLUTION B2.2: say "hi"\n    return 1\n    # END SOLUTION\n')
    assert stub == 'def f():\n    """doc"""\n    raise NotImplementedError("B2.2: say \\"hi\\"")\n'


def test_every_case_has_a_reference_and_no_reference_is_stale():
    cases = all_cases()
    files = {p.name for p in REFERENCE_DIR.glob("*.safetensors")}
    want = {c.path.name for c in cases.values()}
    assert want <= files, f"missing references (run python -m fundiff.reference): {sorted(want - files)}"
    assert files <= want, f"stale references: {sorted(files - want)}"


@pytest.mark.slow
def test_every_graded_test_fails_on_the_stubs_and_the_gradescope_file_is_complete(tmp_path):
    """The graded suite against exercises/: every graded test fails with its section in the
    message, the score table shows 0, and results.json follows Gradescope's format."""
    # exactly the README's grading command, from the repository root without a path
    out = tmp_path / "results.json"
    listed, run = concurrently(lambda: run_pytest("-m", "graded", "--collect-only"),
                               lambda: run_pytest("-m", "graded", "--impl", "exercises", "--gradescope", str(out),
                                                  timeout=600))
    n_graded = sum(1 for line in listed.stdout.splitlines() if "::" in line)
    assert n_graded > 0, listed.stdout[-2000:]
    assert "fundiff score (exercises)" in run.stdout, run.stdout[-3000:]
    data = json.loads(out.read_text())
    assert set(data) >= {"score", "max_score", "tests"}
    assert data["score"] == 0
    assert data["max_score"] == sum(t["max_score"] for t in data["tests"]) > 0
    assert len(data["tests"]) == n_graded, "some graded tests were skipped on the stubs"
    passing = [t["name"] for t in data["tests"] if t["score"] != 0]
    assert not passing, f"graded tests that pass on the bare stubs: {passing}"
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output"}
        section = t["name"].split(" ")[0]
        assert section in SECTIONS, t["name"]
        assert f"[{section}]" in t["output"] or section in t["output"], t


def score_table_lines(stdout: str) -> list[str]:
    lines = stdout.split("fundiff score", 1)[1].splitlines()
    return lines[:next(i for i, line in enumerate(lines) if line.startswith("total")) + 1]


@needs_solutions
def test_the_score_and_the_gradescope_file_are_the_same_in_parallel(tmp_path):
    """With ``-n 2`` (pytest-xdist, the README's test command) the controller collects nothing: a
    graded test's section, points and visibility travel with its reports, so the score table and
    results.json match a run in one process, and the workers write neither."""
    buggy = (SOLUTIONS / "forward.py").read_text().replace("def forward_process(", "def _forward_process(") + (
        "\n\ndef forward_process(x0, eps, t, alphas_cumprod):\n"
        "    return _forward_process(x0, eps, t, alphas_cumprod.roll(1))  # off by one\n")
    folder = write_impl(tmp_path, forward=buggy)
    args = ("-m", "graded", "-k", "A1.1 or A1.2", "--impl", str(folder), "--visibility", "A1.2=hidden")
    one, two = concurrently(lambda: run_pytest(*args, "--gradescope", str(tmp_path / "one.json")),
                            lambda: run_pytest(*args, "-n", "2", "--gradescope", str(tmp_path / "two.json")))
    assert two.stdout.count("fundiff score") == 1, two.stdout[-3000:] + two.stderr[-2000:]
    assert score_table_lines(two.stdout) == score_table_lines(one.stdout), two.stdout[-3000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))

    def rows(data):
        return sorted((t["name"], t["score"], t["max_score"], t["status"], t["visibility"]) for t in data["tests"])

    assert rows(a) == rows(b) and len(rows(b)) == 6
    assert 0 < b["score"] == a["score"] < b["max_score"] == a["max_score"]
    assert {t["visibility"] for t in b["tests"] if t["name"].startswith("A1.2")} == {"hidden"}
    assert all(t["output"] for t in b["tests"] if t["status"] == "failed")


def write_impl(tmp_path: Path, **overrides: str) -> Path:
    """A copy of solutions/ with some modules replaced by the given sources."""
    folder = tmp_path / "student"
    shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in overrides.items():
        (folder / f"{name}.py").write_text(source)
    return folder


@needs_solutions
def test_an_import_error_fails_only_the_module_that_has_it(tmp_path):
    folder = write_impl(tmp_path, denoise="import torch\n\ndef estimate_x0(:\n")
    impl = load_impl(folder)
    assert impl.forward.forward_process  # the other modules still import
    with pytest.raises(ImplError, match=r"denoise\.py.*SyntaxError"):
        impl.denoise
    with pytest.raises(GradingError, match=r"denoise\.py could not be used"):
        call(impl, "denoise.estimate_x0")


@needs_solutions
def test_in_place_changes_and_exceptions_name_the_file_and_function(tmp_path):
    folder = write_impl(tmp_path, forward=(
        "def forward_process(x0, eps, t, alphas_cumprod):\n    x0.mul_(2)\n    return x0\n\n"
        "def abar_at(alphas_cumprod, t, like):\n    return alphas_cumprod[t] / 0 + [][1]\n"))
    impl = load_impl(folder)
    x = torch.ones(1, 1, 2, 2)
    with pytest.raises(GradingError, match=r"forward\.py:forward_process modified its argument 1 in place"):
        call(impl, "forward.forward_process", x, x.clone(), 0, torch.ones(3))
    with pytest.raises(GradingError, match=r"forward\.py:abar_at raised IndexError.*\n.*forward\.py:6"):
        call(impl, "forward.abar_at", torch.ones(3), 0, x)
    with pytest.raises(GradingError, match=r"forward\.py has no 'nothing'"):
        call(impl, "forward.nothing")


@needs_solutions
@pytest.mark.slow
def test_an_infinite_loop_costs_one_test_only(tmp_path):
    src = (SOLUTIONS / "forward.py").read_text().replace(
        "    abar = abar_at(alphas_cumprod, t, x0)\n",
        "    abar = abar_at(alphas_cumprod, t, x0)\n    while x0.ndim == 4 and x0.shape[-1] == 28:\n        pass\n")
    assert "while" in src
    folder = write_impl(tmp_path, forward=src)
    run = run_pytest("tests/test_a11_forward.py", "--impl", str(folder), "--graded-timeout", "8", timeout=600)
    assert "time limit (8 s) exceeded in forward.forward_process" in run.stdout, run.stdout[-3000:]
    assert "3 failed, 1 passed" in run.stdout, run.stdout[-3000:]  # the three tests on 28-px digits
    # the second test that calls the function that hung gets a short limit, not 8 s again
    assert "forward.forward_process gets 3 s from now on" in run.stdout
    assert "time limit (3 s) exceeded in forward.forward_process" in run.stdout, run.stdout[-3000:]


def test_compare_reports_shape_then_error_and_where_then_hint():
    want = torch.zeros(2, 3)
    with pytest.raises(GradingError, match=r"expected shape \(2, 3\), got \(3, 2\)"):
        compare("x", torch.zeros(3, 2), want)
    with pytest.raises(GradingError, match=r"expected dtype torch.float32, got torch.float64"):
        compare("x", torch.zeros(2, 3, dtype=torch.float64), want)
    got = want.clone()
    got[1, 2] = 0.5
    with pytest.raises(GradingError, match=r"max abs error 0\.5.*at \[1, 2\] got 0\.5, expected 0; 1 of 6(.|\n)*hint: look"):
        compare("x", got, want, hint="look here")
    with pytest.raises(GradingError, match="expected a torch.Tensor"):
        compare("x", [0.0], want)
    compare("x", want + 1e-7, want)


def test_the_names_solutions_and_exercises_are_the_checkouts_folders(tmp_path, monkeypatch):
    """A folder called solutions/ in the working directory (a submission's, a grading sandbox's) is
    not the instructor's solutions/: --fresh references must not come from it."""
    fake = tmp_path / "solutions"
    fake.mkdir()
    (fake / "forward.py").write_text("def forward_process(*a):\n    return 0\n")
    monkeypatch.chdir(tmp_path)
    assert load_impl("solutions").path == (ROOT / "solutions").resolve()
    assert load_impl("exercises").path == (ROOT / "exercises").resolve()
    assert load_impl("./solutions").path == fake.resolve()  # asked for explicitly


def test_unknown_implementation_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ImplError, match="not found"):
        load_impl(tmp_path / "nope")
    with pytest.raises(ImplError, match="holds none of the course modules"):
        load_impl(tmp_path)
