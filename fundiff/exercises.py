"""Generate ``exercises/`` from ``solutions/``: ``python -m fundiff.exercises [--check]``.

In ``solutions/*.py`` every piece a student writes sits between two marker comments::

    # BEGIN SOLUTION A1.1: scale x0 by sqrt(abar_t) and add sqrt(1 - abar_t)·eps
    ...
    # END SOLUTION

and becomes, in ``exercises/``, one line at the same indentation::

    raise NotImplementedError("A1.1: scale x0 by sqrt(abar_t) and add sqrt(1 - abar_t)·eps")

Everything else (imports, signatures, docstrings, hints) is kept as it is.  ``--check`` writes
nothing and exits 1 when the committed exercises differ from what would be generated.
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from .impl import MODULES, ROOT

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION (?P<section>[AB][0-9.]+): (?P<what>.+?)\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HEADER = ("# Exercise stubs, generated from solutions/{name} by `python -m fundiff.exercises`.\n"
          "# Replace every `raise NotImplementedError(...)` with your code; keep names and signatures.\n")


class MarkerError(ValueError):
    """The solution markers of a file are unbalanced or malformed."""


def strip_solutions(source: str, filename: str = "<solutions>") -> str:
    """The exercise version of one solution file (see the module doc)."""
    out, inside = [], None
    for lineno, line in enumerate(source.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{filename}:{lineno}: BEGIN SOLUTION inside the block opened at line {inside}")
            inside = lineno
            what = begin["what"].replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'{begin["indent"]}raise NotImplementedError("{begin["section"]}: {what}")\n')
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{filename}:{lineno}: END SOLUTION without BEGIN SOLUTION")
            inside = None
        elif "SOLUTION" in line and line.lstrip().startswith("#"):
            raise MarkerError(f"{filename}:{lineno}: malformed marker, expected "
                              "'# BEGIN SOLUTION <section>: <what to write>' or '# END SOLUTION'")
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{filename}:{inside}: BEGIN SOLUTION never closed")
    return "".join(out)


def generate(solutions: Path = ROOT / "solutions") -> dict[str, str]:
    """{file name: exercise source} for the five modules (and __init__.py) of ``solutions``."""
    files = {}
    for name in [*MODULES, "__init__"]:
        path = solutions / f"{name}.py"
        if path.is_file():
            text = strip_solutions(path.read_text(), str(path))
            files[path.name] = (HEADER.format(name=path.name) + text) if text.strip() else text
    return files


def differences(exercises: Path = ROOT / "exercises", solutions: Path = ROOT / "solutions") -> str:
    """A unified diff between the committed exercises and the generated ones ('' when equal)."""
    diff = []
    for name, text in generate(solutions).items():
        path = exercises / name
        have = path.read_text() if path.is_file() else ""
        diff += difflib.unified_diff(have.splitlines(True), text.splitlines(True),
                                     f"exercises/{name} (committed)", f"exercises/{name} (generated)")
    return "".join(diff)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.exercises", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if exercises/ is out of date")
    p.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    p.add_argument("--out", type=Path, default=ROOT / "exercises")
    args = p.parse_args(argv)
    if args.check:
        diff = differences(args.out, args.solutions)
        if diff:
            print(diff)
            print("exercises/ is out of date: run `python -m fundiff.exercises`", file=sys.stderr)
            return 1
        print("exercises/ matches solutions/")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in generate(args.solutions).items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
