"""The grader against hostile and broken submissions (ungraded tests of the harness).

Each submission is graded by the README's command in a fresh pytest, from a folder outside the
checkout (so the entry-point plugin, not the checkout's config, provides --impl), with --gradescope;
the score must be honest, every failure a one-line message, and nothing may hang."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fundiff.grading.cases import REFERENCE_DIR, verify_references
from fundiff.grading.remote import sandbox_available
from fundiff.impl import ROOT
from parallel import concurrently

SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
needs_solutions = pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="solutions/ withheld")


def grade(folder: Path, tests: list[str], tmp_path: Path, *extra: str, timeout: float = 900, results: str = "results"):
    """Run the graded tests ``tests`` on ``folder`` from tmp_path (outside the checkout); the
    Gradescope file goes to tmp_path/``results``/results.json; the run's working directory is that
    folder, so that runs at once do not share one."""
    out = tmp_path / results / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "graded",
           *[str(ROOT / t) for t in tests], f"--impl={folder}", "--gradescope", str(out),
           *extra]
    t0 = time.monotonic()
    run = subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.is_file(), f"exit code {run.returncode}\n" + run.stdout[-3000:] + run.stderr[-2000:]
    data = json.loads(out.read_text())
    return run, {t["name"]: t for t in data["tests"]}, data, time.monotonic() - t0


def submission(tmp_path: Path, base: Path, **modules: str) -> Path:
    folder = tmp_path / "submission"
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def section_score(tests: dict, section: str) -> tuple[float, float]:
    rows = [t for name, t in tests.items() if name.startswith(section + " ")]
    return sum(t["score"] for t in rows), sum(t["max_score"] for t in rows)


CRASH_TESTS = ["tests/test_a11_forward.py", "tests/test_a13_one_step.py", "tests/test_a18_anagrams.py",
               "tests/test_b11_unet.py::test_unet_parameter_count", "tests/test_b12_denoiser.py"]


@needs_solutions
@pytest.mark.slow
def test_exits_crashes_hangs_and_floods_cost_only_the_cases_they_touch(tmp_path):
    """os._exit at import, sys.exit at import, an infinite loop that catches BaseException and a
    flood of output: each costs its own tests, with a one-line message, in bounded time."""
    forward = (SOLUTIONS / "forward.py").read_text().replace("def forward_process(", "def _real_forward_process(") + (
        "\n\ndef forward_process(x0, eps, t, alphas_cumprod):\n    import sys\n"
        "    sys.stdout.write('spam ' * 200_000)\n    sys.stderr.write('more ' * 200_000)\n"
        "    return _real_forward_process(x0, eps, t, alphas_cumprod)\n")
    train = (SOLUTIONS / "train.py").read_text().replace(
        "def add_noise(x", "def add_noise(x, sigma, noise):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n\n\ndef _old_add_noise(x", 1)
    folder = submission(tmp_path, SOLUTIONS, forward=forward, train=train,
                        guidance="import os\nos._exit(0)\n", unet="import sys\nsys.exit('bye')\n")
    run, tests, data, seconds = grade(folder, CRASH_TESTS, tmp_path, "--graded-timeout", "6")
    assert section_score(tests, "A1.1") == (6, 6), run.stdout[-3000:]  # the flood costs nothing
    assert section_score(tests, "A1.3") == (3, 3), run.stdout[-3000:]
    assert section_score(tests, "A1.8")[0] == 0 and section_score(tests, "B1.1")[0] == 0
    assert section_score(tests, "B1.2") == (0, 4), run.stdout[-3000:]  # add_noise hangs, the loss calls it
    for name, t in tests.items():
        if t["status"] == "failed":
            assert "\n" not in t["output"].strip(), t["output"]
            assert t["output"].startswith(f"[{name.split()[0]}]"), t["output"]
    msgs = {}
    for name, t in tests.items():
        msgs.setdefault(name.split()[0], []).append(t["output"])
    assert any("while importing guidance.py" in m and "exit code 0" in m for m in msgs["A1.8"]), msgs["A1.8"]
    assert all("guidance.py" in m for m in msgs["A1.8"]), msgs["A1.8"]
    assert all("SystemExit: bye" in m for m in msgs["B1.1"]), msgs["B1.1"]
    assert any("time limit (6 s) exceeded in train.add_noise" in m for m in msgs["B1.2"]), msgs["B1.2"]
    assert seconds < 400, f"{seconds:.0f} s"  # (a loaded 2-core machine; unbounded before)


HOSTILE_FORWARD = '''
import os, json
from pathlib import Path

REFS = Path({refs!r})
RESULTS = Path({results!r})
attempts = {{}}
for what, fn in {{
    "write the results file": lambda: RESULTS.write_text(json.dumps({{"score": 999, "tests": []}})),
    "rewrite a reference": lambda: (REFS / "A1.1__forward_process.safetensors").write_bytes(b"0"),
    "rewrite the manifest": lambda: (REFS / "MANIFEST.json").write_text("{{}}"),
    "write into the grader's package": lambda: Path({pkg!r}, "grading", "evil.py").write_text("x = 1"),
}}.items():
    try:
        fn()
        attempts[what] = "done"
    except Exception as err:
        attempts[what] = type(err).__name__

# monkeypatch the grader as seen from here
import fundiff.grading as g
import fundiff.grading.plugin as plugin
g.compare = lambda *a, **k: None
plugin.Results.by_section = lambda self: {{}}
plugin.write_gradescope = lambda *a, **k: None


def forward_process(x0, eps, t, alphas_cumprod):
    """the stored answers, if they can be read"""
    from safetensors.torch import load_file
    ref = load_file(str(REFS / "A1.1__forward_process.safetensors"))
    return ref["x_t%d" % t] if isinstance(t, int) else ref["x_t_batch"]


def abar_at(alphas_cumprod, t, like):
    raise NotImplementedError("A1.1")
'''

HOSTILE_DENOISE = '''
import sys
from pathlib import Path
import fundiff

try:
    from solutions.denoise import *  # noqa: F401,F403
except ImportError:
    pass
_sol = Path(fundiff.__file__).resolve().parents[1] / "solutions"
try:
    sys.path.insert(0, str(_sol.parent))
    for _name in ("forward", "denoise"):
        exec(compile((_sol / (_name + ".py")).read_text().replace("from .forward import", "from solutions.forward import"),
                     _name, "exec"))
except OSError:
    pass
'''


@needs_solutions
@pytest.mark.slow
def test_a_hostile_submission_scores_nothing_and_changes_nothing(tmp_path):
    """A submission that writes the results file, rewrites the references, monkeypatches the grader,
    returns the stored answers and imports solutions/ gets what its stubs deserve: 0."""
    if not sandbox_available():
        pytest.skip("no sandbox here (needs root or unprivileged user namespaces)")
    before = {p.name: p.read_bytes() for p in REFERENCE_DIR.iterdir() if p.is_file()}
    results = tmp_path / "results" / "results.json"
    forward = HOSTILE_FORWARD.format(refs=str(REFERENCE_DIR), results=str(results),
                                     pkg=str(ROOT / "fundiff"))
    folder = submission(tmp_path, EXERCISES, forward=forward, denoise=HOSTILE_DENOISE)
    run, tests, data, _ = grade(folder, ["tests/test_a11_forward.py", "tests/test_a13_one_step.py"], tmp_path)
    assert data["score"] == 0, {n: t["score"] for n, t in tests.items()}
    assert data["max_score"] == 9 and len(tests) == 7
    assert "fundiff score" in run.stdout and " 0/9" in run.stdout, run.stdout[-2000:]
    assert {p.name: p.read_bytes() for p in REFERENCE_DIR.iterdir() if p.is_file()} == before
    assert not (ROOT / "fundiff" / "grading" / "evil.py").exists()
    verify_references()


@needs_solutions
def test_changed_references_stop_grading_before_student_code_runs(tmp_path):
    """A reference file that differs from the manifest stops the run (exit 3) with a clear message."""
    refs = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, refs)
    (refs / "A1.1__forward_process.safetensors").write_bytes(
        (refs / "A1.1__forward_process.safetensors").read_bytes()[:-1] + b"\0")
    env = {**os.environ, "FUNDIFF_DATA": str(tmp_path)}
    for name in ("mnist_5k.npz",):
        (tmp_path / name).symlink_to(REFERENCE_DIR.parent / name)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "graded",
                          str(ROOT / "tests/test_a11_forward.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert "does not match MANIFEST.json" in run.stdout + run.stderr


def test_the_plugin_loads_from_any_folder_without_the_checkouts_config(tmp_path):
    """--impl=PATH (relative here) is an option wherever fundiff is installed: the pytest11 entry
    point loads the plugin even with an empty config file and the tests collected from elsewhere."""
    (tmp_path / "sub").mkdir()
    shutil.copytree(EXERCISES, tmp_path / "sub" / "mine", ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", os.devnull, "-q",
                          "--co", "-m", "graded", "--impl=sub/mine", "--gradescope", "out.json",
                          str(ROOT / "tests" / "test_a11_forward.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "3 tests collected" in run.stdout or "test_forward_process_matches_reference" in run.stdout, run.stdout


STORED_ANSWERS = '''
from pathlib import Path
from safetensors.torch import load_file

_REF = load_file(str(Path(__file__).with_name("answers.safetensors")))


def forward_process(x0, eps, t, alphas_cumprod):
    """no implementation: the stored answers of the reference case, shipped with the submission"""
    return _REF["x_t%d" % t] if isinstance(t, int) else _REF["x_t_batch"]
'''


@needs_solutions
@pytest.mark.slow
def test_fresh_inputs_make_stored_answers_worthless(tmp_path):
    """A submission that ships the stored reference answers scores on the stored inputs, not on
    --fresh ones; solutions/ scores full marks on fresh inputs."""
    folder = submission(tmp_path, EXERCISES, forward=STORED_ANSWERS)
    shutil.copy2(REFERENCE_DIR / "A1.1__forward_process.safetensors", folder / "answers.safetensors")
    stored, fresh, (_, tests, data, _) = concurrently(
        lambda: grade(folder, ["tests/test_a11_forward.py"], tmp_path, results="stored"),
        lambda: grade(folder, ["tests/test_a11_forward.py"], tmp_path, "--fresh", "7", results="fresh"),
        lambda: grade(SOLUTIONS, ["tests/test_a11_forward.py", "tests/test_b23_ddpm_sampling.py"],
                      tmp_path, "--fresh", "7", "--visibility", "B2.3=after_due_date", results="reference-impl"))
    assert section_score(stored[1], "A1.1") == (3, 6)  # the reference case only
    assert section_score(fresh[1], "A1.1") == (0, 6)
    assert data["score"] == data["max_score"] == 16
    assert {t["visibility"] for n, t in tests.items() if n.startswith("B2.3")} == {"after_due_date"}
    assert {t["visibility"] for n, t in tests.items() if n.startswith("A1.1")} == {"visible"}
