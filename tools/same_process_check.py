"""Why python -m fundiff.bench runs baseline and fast path in separate processes.

    python tools/same_process_check.py [time|class] [--rounds 5]

Times the plain and the fast training step three ways, each in a fresh process: the plain step
alone, the fast step alone, and the two taking turns in one process (what fundiff.bench did before
it used fundiff.bench.Worker).  Prints best and median seconds per step and page faults per step.
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def measure(kind: str, configs: list[str], rounds: int) -> dict:
    from fundiff.bench import train_step_fn

    fns = {c: train_step_fn(kind, c == "fast") for c in configs}
    for f in fns.values():
        f(), f()
    times, faults = {c: [] for c in fns}, {c: 0 for c in fns}
    for _ in range(rounds):
        for c, f in fns.items():
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            f(), f()
            times[c].append((time.perf_counter() - t0) / 2)
            faults[c] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {c: {"best_s": min(times[c]), "median_s": statistics.median(times[c]),
                "faults_per_step": faults[c] / (2 * rounds)} for c in fns}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", nargs="?", default="class", choices=["time", "class"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.kind, args.child, args.rounds)))
        return 0
    for configs in (["base"], ["fast"], ["base", "fast"]):
        out = subprocess.run([sys.executable, __file__, args.kind, "--rounds", str(args.rounds), "--child", *configs],
                             check=True, capture_output=True, text=True).stdout
        for c, r in json.loads(out.strip().splitlines()[-1]).items():
            where = "alone" if len(configs) == 1 else "same process, taking turns"
            print(f"{args.kind} {c:4s} {where:27s} best {r['best_s']:.3f} s  median {r['median_s']:.3f} s  "
                  f"{r['faults_per_step']:.0f} page faults/step", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
