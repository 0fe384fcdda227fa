"""Write the reference outputs of every graded case from ``solutions/``:
``python -m fundiff.reference [--only PREFIX …] [--check]``.

The outputs go to ``data/reference/<case>.safetensors`` (float32, CPU) and are never edited by
hand; ``data/reference/MANIFEST.json`` records their SHA-256, which the grader checks before it
runs any student code.  ``--check`` writes nothing and exits 1 when a stored reference differs from what solutions/
computes now (or is missing, or is left over from a case that no longer exists).
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from .checkpoint import save_atomic
from .grading.cases import MANIFEST, REFERENCE_DIR, all_cases, file_digest, load_reference, run_case, write_manifest
from .impl import load_impl


def generate(only=None, check: bool = False) -> int:
    impl = load_impl("solutions")
    cases = all_cases()
    problems = 0
    for name, c in sorted(cases.items()):
        if only and not any(name.startswith(p) for p in only):
            continue
        t0 = time.perf_counter()
        torch.manual_seed(0)  # nothing should depend on it; a safety net against stray draws
        out = {k: v.detach().cpu().contiguous() for k, v in run_case(name, impl).items()}
        if check:
            if not c.path.is_file():
                print(f"MISSING {name}")
                problems += 1
                continue
            want = load_reference(name)
            same = want.keys() == out.keys() and all(
                torch.allclose(out[k].double(), want[k].double(), atol=c.atol, rtol=c.rtol) for k in out)
            if not same:
                print(f"DIFFERS {name}")
                problems += 1
        else:
            save_atomic(out, c.path, {"case": name, "section": c.section,
                                      "written_by": "python -m fundiff.reference (solutions/)"})
            print(f"wrote {c.path.relative_to(REFERENCE_DIR.parent.parent)} "
                  f"({', '.join(out)}) in {time.perf_counter() - t0:.1f} s")
    if not check and not only:
        print(f"wrote {REFERENCE_DIR.name}/{write_manifest().name} (the SHA-256 the grader checks)")
    elif not check:
        write_manifest()
    else:
        import json

        try:
            recorded = json.loads((REFERENCE_DIR / MANIFEST).read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            recorded = {}
        for c in cases.values():
            if c.path.is_file() and recorded.get(c.path.name) != file_digest(c.path):
                print(f"MANIFEST {c.path.name}: not recorded or changed (python -m fundiff.reference writes it)")
                problems += 1
    known = {c.path.name for c in cases.values()}
    stale = sorted(p.name for p in REFERENCE_DIR.glob("*.safetensors") if p.name not in known)
    for name in stale:
        print(f"STALE {name}: no case writes it any more; delete it")
        problems += 1
    return 1 if (problems and check) or stale else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.reference", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", help="case name prefixes (e.g. A1.4 B2)")
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    args = p.parse_args(argv)
    return generate(args.only, args.check)


if __name__ == "__main__":
    sys.exit(main())
