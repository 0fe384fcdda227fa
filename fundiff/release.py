"""What an instructor deploys: ``python -m fundiff.release student OUT/ | autograder OUT.zip``.

``student OUT/``
    What students get: the package, ``exercises/`` as the code to fill in, the graded tests, the
    data (reference outputs included) and a student README; no ``solutions/``.  There
    ``python -m pytest -m graded`` grades ``exercises/`` (the default ``--impl`` where solutions/
    is absent).

``autograder OUT.zip``
    A Gradescope autograder, laid out as Gradescope's specification says
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/): ``setup.sh`` (run once, as
    root, when Gradescope builds the image: installs the package) and ``run_autograder`` at the
    root of the zip, beside the package, ``solutions/``, the tests and the data, which Gradescope
    extracts into ``/autograder/source``.  ``run_autograder`` grades the folder of
    ``/autograder/submission/`` that holds the modules (``python -m fundiff.release run``) and
    writes ``/autograder/results/results.json``.  ``--visibility PATTERN=VALUE`` (repeatable) sets
    the Gradescope visibility of sections or tests; ``--fresh SEED`` (default: a random seed drawn
    now, ``--no-fresh`` for none) grades every case on new inputs computed from solutions/.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from .impl import MODULES, ROOT

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp", ".pytest_cache", "*.egg-info")
GRADED_TESTS = "test_[ab][0-9]*.py"  # one file per course section; the framework's tests stay behind
CONFIG = "autograder.json"

STUDENT_README = """# fundiff — fun with diffusion models, from scratch

```bash
pip install -e .                      # install
python -m pytest -m graded            # grade your exercises/ (the score table is at the end)
python -m pytest -m graded -k A1.4    # one section
python -m fundiff.demo --impl exercises   # every result of the course as a web page, with your code
```

Fill in the bodies in `exercises/` (`forward.py`, `denoise.py`, `guidance.py`, `unet.py`,
`train.py`): each stub raises `NotImplementedError("<section>: what to write")`.  Keep the names
and signatures.  A failing test says what was expected, the largest error and where, and a hint.
Your code runs in a process of its own while it is graded, with a time limit per test.

To submit, upload the five files (or a zip of them) to the autograder.  It runs the same tests,
and may run them on other inputs than the ones here, so compute the answers rather than storing them.
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is in
# /autograder/source.  util-linux gives the grader unshare and setpriv (its sandbox).
set -euxo pipefail
apt-get install -y python3 python3-pip util-linux
cd /autograder/source
python3 -m pip install -e .
python3 -c "import fundiff.grading.plugin"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission, write
# /autograder/results/results.json (python -m fundiff.release run).
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source" || exit 1
PYTHONPATH="$ROOT/source" exec "${FUNDIFF_PYTHON:-python3}" -m fundiff.release run "$ROOT"
"""


def _copy_package(out: Path, with_solutions: bool) -> None:
    shutil.copytree(ROOT / "fundiff", out / "fundiff", ignore=IGNORE)
    shutil.copytree(ROOT / "exercises", out / "exercises", ignore=IGNORE)
    if with_solutions:
        shutil.copytree(ROOT / "solutions", out / "solutions", ignore=IGNORE)
    (out / "tests").mkdir()
    for p in sorted((ROOT / "tests").glob(GRADED_TESTS)):
        shutil.copy2(p, out / "tests" / p.name)
    shutil.copy2(ROOT / "tests" / "conftest.py", out / "tests" / "conftest.py")
    for name in ("setup.cfg", "pyproject.toml"):
        shutil.copy2(ROOT / name, out / name)


def build_student(out: Path) -> Path:
    """The student release in ``out`` (which must not exist yet)."""
    out = Path(out)
    if out.exists():
        raise SystemExit(f"{out} exists: choose a new folder")
    out.mkdir(parents=True)
    _copy_package(out, with_solutions=False)
    shutil.copytree(ROOT / "data", out / "data", ignore=IGNORE)
    (out / "README.md").write_text(STUDENT_README)
    return out


def build_autograder(out: Path, visibility=(), fresh: int | None = None) -> Path:
    """The Gradescope autograder zip ``out``."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "source"
        src.mkdir()
        _copy_package(src, with_solutions=True)
        shutil.copytree(ROOT / "data", src / "data", ignore=shutil.ignore_patterns(
            "__pycache__", "*.tmp", "partb", "emoji"))  # the trained models are not graded
        shutil.copy2(ROOT / "README.md", src / "README.md")
        (src / CONFIG).write_text(json.dumps({"visibility": list(visibility), "fresh": fresh}, indent=1) + "\n")
        (src / "setup.sh").write_text(SETUP_SH)
        (src / "run_autograder").write_text(RUN_AUTOGRADER)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(src.rglob("*")):
                if p.is_file():
                    info = zipfile.ZipInfo.from_file(p, p.relative_to(src).as_posix())
                    mode = 0o755 if p.name in ("setup.sh", "run_autograder") else 0o644
                    info.external_attr = (stat.S_IFREG | mode) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, p.read_bytes())
    return out


def locate_submission(folder: Path) -> Path | None:
    """The shallowest folder under ``folder`` holding any of the five modules (students upload the
    files, or a zip of a folder)."""
    found = sorted((p.parent for m in MODULES for p in Path(folder).rglob(f"{m}.py")
                    if "__MACOSX" not in p.parts), key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


def run(root: Path) -> int:
    """Grade ``root``/submission with ``root``/source and write ``root``/results/results.json."""
    root = Path(root)
    source, results = root / "source", root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    if results.exists():
        results.unlink()
    t0 = time.time()
    config = json.loads((source / CONFIG).read_text()) if (source / CONFIG).is_file() else {}
    submission = locate_submission(root / "submission")
    if submission is None:
        _fallback(results, t0, "No course module found in the submission: upload "
                  + ", ".join(m + ".py" for m in MODULES) + " (or a zip of them).")
        return 0
    env = {**os.environ, "PYTHONPATH": str(source)}
    submission = _isolate(source, results.parent, submission, env)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "graded", str(source / "tests"),
           f"--impl={submission}", "--gradescope", str(results)]
    for spec in config.get("visibility") or []:
        cmd.append(f"--visibility={spec}")
    if config.get("fresh") is not None:
        cmd.append(f"--fresh={int(config['fresh'])}")
    try:
        proc = subprocess.run(cmd, cwd=source, env=env, timeout=float(config.get("time_limit_s", 3000)))
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    if not results.is_file():
        _fallback(results, t0, f"The grader stopped (status {code}) before writing results; "
                               "please tell the course staff.")
    return 0


def _isolate(source: Path, results_dir: Path, submission: Path, env: dict) -> Path:
    """Where the grader's sandbox (namespaces) is not available but this runs as root, as on
    Gradescope's containers: the submission runs as the unprivileged user ``nobody``, and what it
    must not read or write is made root-only.  Returns the folder to grade (a copy it can read)."""
    from .grading.remote import sandbox_available

    if sandbox_available() or os.geteuid() != 0:
        return submission
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return submission
    for p in (source / "solutions", source / "data" / "reference", results_dir):
        if p.is_dir():
            os.chmod(p, 0o700)
    copy = Path(tempfile.mkdtemp(prefix="fundiff-submission-"))
    shutil.copytree(submission, copy / "submission", ignore=IGNORE)
    for p in [copy, *copy.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    env["FUNDIFF_CHILD_USER"] = "nobody"
    return copy / "submission"


def _fallback(results: Path, t0: float, message: str) -> None:
    results.write_text(json.dumps({"score": 0.0, "execution_time": round(time.time() - t0, 1), "output": message,
                                   "output_format": "text", "tests": []}, indent=2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.release", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("student", help="the student release, in a new folder")
    s.add_argument("out", type=Path)
    a = sub.add_parser("autograder", help="the Gradescope autograder zip")
    a.add_argument("out", type=Path)
    a.add_argument("--visibility", action="append", default=[], metavar="PATTERN=VALUE",
                   help="Gradescope visibility of a section or test (visible, hidden, after_due_date, after_published)")
    a.add_argument("--fresh", type=int, default=None, metavar="SEED",
                   help="grade on new inputs from this seed (default: a random one)")
    a.add_argument("--no-fresh", action="store_true", help="grade on the stored inputs and references")
    r = sub.add_parser("run", help="(inside the autograder) grade ROOT/submission, write ROOT/results/results.json")
    r.add_argument("root", type=Path)
    args = p.parse_args(argv)
    if args.what == "student":
        print(f"student release: {build_student(args.out)}")
    elif args.what == "autograder":
        from .grading.plugin import VISIBILITIES

        for spec in args.visibility:
            if spec.partition("=")[2] not in VISIBILITIES:
                p.error(f"--visibility {spec}: expected PATTERN=one of {', '.join(VISIBILITIES)}")
        fresh = None if args.no_fresh else (args.fresh if args.fresh is not None else random.randrange(1, 2 ** 31))
        print(f"Gradescope autograder: {build_autograder(args.out, args.visibility, fresh)}")
    else:
        return run(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
