"""The releases (python -m fundiff.release): the student folder and the Gradescope autograder zip,
built and run as Gradescope would run it, on solutions/ (full marks), exercises/ (0), a buggy and a
hostile submission."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fundiff import release
from fundiff.impl import MODULES, ROOT
from parallel import concurrently

SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
needs_solutions = pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="solutions/ withheld")


def test_student_release_has_the_exercises_and_no_solutions(tmp_path):
    out = release.build_student(tmp_path / "student")
    assert not (out / "solutions").exists()
    assert all((out / "exercises" / f"{m}.py").is_file() for m in MODULES)
    assert sorted(p.name for p in (out / "tests").glob("test_*.py")) == sorted(
        p.name for p in (ROOT / "tests").glob(release.GRADED_TESTS))
    assert not (out / "tests" / "test_harness.py").exists()
    assert (out / "data" / "reference" / "MANIFEST.json").is_file() and (out / "data" / "mnist_5k.npz").is_file()
    assert "python -m pytest -m graded" in (out / "README.md").read_text()
    assert not list(out.rglob("__pycache__"))


@pytest.mark.slow
def test_student_release_grades_its_exercises_by_default(tmp_path):
    out = release.build_student(tmp_path / "student")
    env = {**os.environ, "PYTHONPATH": str(out)}  # the release's own package, not this checkout's
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "graded",
                          "-k", "A1.1"], cwd=out, capture_output=True, text=True, timeout=300, env=env)
    assert "fundiff score (exercises)" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0/6" in run.stdout and "4 failed" in run.stdout, run.stdout[-3000:]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    if not SOLUTIONS.is_dir():
        pytest.skip("solutions/ withheld")
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    return release.build_autograder(out, visibility=["B2=after_due_date", "A1.9=hidden"], fresh=11)


def gradescope_run(zip_path: Path, tmp_path: Path, submission: dict[str, str]) -> dict:
    """Lay out /autograder as Gradescope does (source = the extracted zip, run_autograder copied up,
    submission/, results/), run run_autograder, return results.json."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    sub = root / "submission" / "upload"  # students often zip a folder
    sub.mkdir(parents=True)
    for name, text in submission.items():
        (sub / name).write_text(text)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "FUNDIFF_PYTHON": sys.executable}
    run = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = root / "results" / "results.json"
    assert results.is_file(), run.stdout[-3000:] + run.stderr[-2000:]
    data = json.loads(results.read_text())
    # Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/)
    assert isinstance(data["score"], float | int) and data["execution_time"] >= 0
    assert data["output_format"] in ("text", "md", "html", "simple_format", "ansi")
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output", "visibility", "status"}
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert t["status"] in ("passed", "failed")
    data["_stdout"] = run.stdout
    return data


def sources(base: Path, **changes) -> dict[str, str]:
    out = {f"{m}.py": (base / f"{m}.py").read_text() for m in MODULES}
    out.update({f"{k}.py": v for k, v in changes.items()})
    return out


def test_autograder_zip_layout(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        config = json.loads(zf.read("autograder.json"))
    assert {"setup.sh", "run_autograder", "setup.cfg", "solutions/forward.py", "tests/test_a11_forward.py",
            "fundiff/grading/plugin.py", "data/reference/MANIFEST.json"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert not any(n.startswith("data/partb/") for n in names)
    assert config == {"visibility": ["B2=after_due_date", "A1.9=hidden"], "fresh": 11}


@needs_solutions
@pytest.mark.slow
def test_autograder_full_marks_for_solutions_zero_for_exercises(autograder_zip, tmp_path):
    data, ex = concurrently(lambda: gradescope_run(autograder_zip, tmp_path / "sol", sources(SOLUTIONS)),
                            lambda: gradescope_run(autograder_zip, tmp_path / "ex", sources(EXERCISES)))
    assert data["score"] == data["max_score"] > 90, [t["name"] for t in data["tests"] if t["status"] == "failed"]
    assert "fundiff score" in data["output"] and "total" in data["output"]
    vis = {t["name"].split()[0]: t["visibility"] for t in data["tests"]}
    assert vis["B2.3"] == "after_due_date" and vis["A1.9"] == "hidden" and vis["A1.1"] == "visible"
    assert ex["score"] == 0 and len(ex["tests"]) > 70


@needs_solutions
@pytest.mark.slow
def test_autograder_partial_marks_for_a_bug_and_nothing_for_a_hostile_submission(autograder_zip, tmp_path):
    buggy = (SOLUTIONS / "forward.py").read_text().replace(
        "def forward_process(", "def _forward_process(") + (
        "\n\ndef forward_process(x0, eps, t, alphas_cumprod):\n"
        "    return _forward_process(x0, eps, t, alphas_cumprod.roll(1))  # off by one\n")
    hostile = (EXERCISES / "forward.py").read_text() + (
        "\nimport json, os\n"
        "for p in ('/autograder/results/results.json', os.environ.get('AUTOGRADER_ROOT', '') + '/results/results.json'):\n"
        "    try:\n        open(p, 'w').write(json.dumps({'score': 999, 'tests': []}))\n    except Exception:\n        pass\n"
        "try:\n    from solutions.forward import *  # noqa\nexcept ImportError:\n    pass\n"
        "import fundiff.grading as g\ng.compare = lambda *a, **k: None\n")
    data, evil = concurrently(lambda: gradescope_run(autograder_zip, tmp_path / "bug", sources(SOLUTIONS, forward=buggy)),
                              lambda: gradescope_run(autograder_zip, tmp_path / "evil", sources(EXERCISES, forward=hostile)))
    failed = {t["name"].split()[0] for t in data["tests"] if t["status"] == "failed"}
    assert "A1.1" in failed and "B1.1" not in failed
    assert 0 < data["score"] < data["max_score"]
    assert evil["score"] == 0 and len(evil["tests"]) > 70


def test_an_empty_submission_gets_a_results_file_that_says_so(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extract("autograder.json", root / "source")
    assert release.run(root) == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and "forward.py" in data["output"]
