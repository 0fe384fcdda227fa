"""The command ``python -m fundiff.demo``: options, running the chosen sections, writing the page.

:func:`main` parses the options (:func:`parse_args`), runs each section under the guard
(:func:`run_section`), rewrites ``OUT/index.html`` after every section (``page.write_page``) and
writes ``OUT/timings.json``; :func:`benchmark` runs it into a temporary folder and returns those
timings (the full default run's target: :data:`TARGET_S` seconds on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import html
import json
import platform
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from ..checks import check_writable_folder, device_name, positive_int, seed_int
from ..impl import ImplError, load_impl
from .context import Ctx
from .guard import guarded
from .page import write_page
from .sections import PARTS, SECTION_IDS, SECTIONS, Section, select_sections

__all__ = ["main", "parse_args", "run_section", "benchmark", "check_model_available", "DEFAULT_OUT", "DEFAULT_SEED",
           "TARGET_S"]

DEFAULT_OUT = "fundiff-demo"
DEFAULT_SEED = 180
#: The full default run's wall-clock target on 2 CPU cores (measured by :func:`benchmark`, not tested).
TARGET_S = 180
DESCRIPTION = "The whole course at work, offline, as a web page: ``python -m fundiff.demo``."


def run_section(ctx: Ctx, sec: Section, index: int, total: int) -> dict:
    """Run one section under the guard (Part A without gradients), print its progress and time, and
    return its record for the page: {"id", "title", "status", "seconds", "cpu_seconds", "items"}."""
    ctx.section, ctx.items, ctx.problems = sec.id, [], []
    ctx._cache["vrange"] = (0.0, 1.0) if sec.id.startswith("B") else (-1.0, 1.0)
    print(f"[{index:2d}/{total}] {sec.id:7s} {sec.title} …", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad() if sec.id.startswith("A") else nullcontext():
        guarded(ctx, sec.fn, ctx)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    pictures = any(it["kind"] in ("image", "table", "pre") for it in ctx.items)
    if not ctx.problems:
        status = "ok"
    elif pictures:
        status = "partial"
    else:
        status = ctx.problems[0]
    print(f"        {sec.id:7s} {status:8s} {secs:6.1f} s", file=sys.stderr, flush=True)
    return {"id": sec.id, "title": sec.title, "status": status, "seconds": secs, "cpu_seconds": cpu,
            "items": list(ctx.items)}


from ..models.emoji import CREDIT as EMOJI_CREDIT  # noqa: E402


def _threads() -> str:
    n = torch.get_num_threads()
    return f"{n} torch thread{'' if n == 1 else 's'}"


def page_meta(ctx: Ctx, total: float, argv: list[str]) -> list[str]:
    e = html.escape
    cmd = "python -m fundiff.demo" + ("" if not argv else " " + " ".join(argv))
    model = ctx.args.model + (f" ({ctx._model!r})" if ctx._model is not None else "")
    return [
        f"Command: <code>{e(cmd)}</code>",
        f"Implementation: <code>{e(str(ctx.impl.path))}</code> · model: <code>{e(model)}</code> · "
        f"seed {ctx.seed} · device {e(str(ctx.device))} · "
        f"{fast_path_words(ctx.device) if ctx.fast else 'float32 throughout'}"
        f"{' · Part B trained from scratch (--train)' if ctx.args.train else ''}"
        f"{' · quick (reduced) run' if ctx.quick else ''}{' · the course’s full sample counts (--full)' if ctx.full else ''}",
        *([f"Emoji pictures and the model trained on them: {e(EMOJI_CREDIT)}"] if ctx.args.model == "emoji" else []),
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S')} in {total:.1f} s on {e(platform.machine())} "
        f"with {_threads()}, torch {e(torch.__version__)}.",
    ]


def parse_args(argv=None) -> argparse.Namespace:
    from ..fast import add_cli_flags

    p = argparse.ArgumentParser(prog="python -m fundiff.demo", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="sections: " + " ".join(SECTION_IDS))
    p.add_argument("--impl", default="solutions", help="solutions (default) | exercises | PATH to your folder")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}/)")
    p.add_argument("--sections", nargs="+", metavar="ID", help="only these sections (ids or prefixes: A1.7, B)")
    p.add_argument("--seed", type=seed_int, default=DEFAULT_SEED, help=f"seed of every section (default {DEFAULT_SEED})")
    p.add_argument("--device", type=device_name, default=None, help="cpu | cuda | … (default: cuda when available, else cpu)")
    p.add_argument("--model", default="emoji", choices=["emoji", "bundled", "deepfloyd"],
                   help="Part A's pretrained model: the shipped text-to-emoji model (default, offline; its "
                        "figures in data/emoji/README.md), the shipped MNIST model (offline; the one grading "
                        "uses) or DeepFloyd IF (GPU + weights)")
    p.add_argument("--deepfloyd-path", help="DeepFloyd IF stage 1: hub id or local folder (default the course's "
                                            "DeepFloyd/IF-I-L-v1.0; DeepFloyd/IF-I-XL-v1.0 is the larger option)")
    p.add_argument("--prompt-embeds", help="DeepFloyd: the course's prompt-embedding .pth file")
    p.add_argument("--emoji-path", help=argparse.SUPPRESS)  # another copy of data/emoji (development)
    p.add_argument("--bundled-path", help=argparse.SUPPRESS)  # another copy of data/bundled (development)
    p.add_argument("--image", action="append", metavar="PATH", help="use this picture as a Part A test image (repeatable)")
    p.add_argument("--train", action="store_true",
                   help="train Part B from scratch with fundiff.train (course settings; slow) instead of loading "
                        "the shipped checkpoints")
    add_cli_flags(p, "sampling (Part A's bundled model and Part B)")
    p.add_argument("--quick", action="store_true", help="a reduced run: fewer pictures per section (for tests)")
    p.add_argument("--full", action="store_true",
                   help="the course's sample counts where the default run shows fewer to stay within about 3 "
                        "minutes on 2 CPU cores (Part B: 4 samples of every digit after each epoch, 20 time-model "
                        "samples; §0: 4 per prompt); a few minutes longer")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--jobs", type=int, choices=(1, 2), default=None,
                   help="processes: 2 runs Part B in a second process beside Part A, the threads split between "
                        "them (default on a CPU with ≥ 2 threads when both parts run: small-batch sampling uses "
                        "threads poorly, so two 1-thread processes finish sooner than one 2-thread one); 1: one process")
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def fast_path_words(device) -> str:
    """What the fast path computes in on ``device``, for the page (:func:`fundiff.fast.fast_dtype`)."""
    from ..fast import fast_dtype

    def name(dt):
        return "float32" if dt is None else str(dt).replace("torch.", "")

    return (f"fast path (fundiff.fast): Part B sampling in {name(fast_dtype(device))} channels_last with fused "
            f"convolutions, the bundled model in {name(fast_dtype(device, channels_last=False))}")


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's one-line error (exit 2) for an --out that cannot be written, an --image that is
    not a readable picture, or an unknown --sections id."""
    for path in args.image or []:
        if not Path(path).is_file():
            p.error(f"--image {path}: no such file (expected a picture: PNG, JPEG, …)")
        try:
            from PIL import Image

            with Image.open(path) as im:
                im.verify()
        except Exception as err:  # noqa: BLE001 - PIL raises several kinds
            p.error(f"--image {path} is not a readable picture (PNG, JPEG, …): {type(err).__name__}: {err}")
    try:
        select_sections(args.sections)
    except SystemExit as err:
        p.error(f"--sections: {err}")
    try:
        check_writable_folder(args.out, "--out")
    except ValueError as err:
        p.error(f"{err} (--out names the folder the page is written to)")


def check_model_available(args) -> str | None:
    """A clear message when --model deepfloyd cannot run here, else None."""
    if args.model != "deepfloyd":
        return None
    dev = torch.device(args.device) if args.device else None
    if args.deepfloyd_path and dev is not None and dev.type == "cpu":
        return None  # asked for explicitly (a local copy, e.g. a small IF-shaped test model, on the CPU)
    if not torch.cuda.is_available() or (dev is not None and dev.type != "cuda"):
        return ("--model deepfloyd needs a CUDA GPU (DeepFloyd IF stage 1 runs in fp16, ~10 GB) and its weights "
                "(accept the licence of DeepFloyd/IF-I-L-v1.0 on the Hugging Face hub and log in, or pass "
                "--deepfloyd-path FOLDER) plus the course's prompt embeddings (--prompt-embeds FILE.pth). "
                "This machine has no usable GPU: run without --model to use the shipped emoji model (or "
                "--model bundled for the MNIST one), which run everything offline on a CPU.")
    return None


def parallel_split(args, sections: list[Section], device: torch.device):
    """(Part A's sections, Part B's sections) for two processes, or None for one: with --jobs 2, or by
    default on a CPU with ≥ 2 torch threads when both parts are chosen."""
    part_a = [s for s in sections if s.id.startswith("A")]
    part_b = [s for s in sections if s.id.startswith("B")]
    if not part_a or not part_b or args.jobs == 1:
        return None
    if args.jobs is None and (device.type != "cpu" or torch.get_num_threads() < 2):
        return None
    return part_a, part_b


def _part_b_worker(argv: list[str], ids: list[str], numbers: dict, threads: int, fast: bool, impl: str,
                   device: str, results) -> None:
    """The second process of :func:`run_two_processes`: run the sections ``ids`` with ``threads``
    torch threads and put each one's record on ``results`` (then None).  ``fast``, ``impl`` and
    ``device`` are the ones the first process resolved."""
    try:
        torch.set_num_threads(threads)
        args = parse_args(argv)
        args.fast = fast
        ctx = Ctx(args=args, out=Path(args.out), impl=load_impl(impl), device=torch.device(device))
        for sec in select_sections(ids):
            results.put(run_section(ctx, sec, numbers[sec.id], numbers["total"]))
    finally:
        results.put(None)


def run_two_processes(ctx: Ctx, argv: list[str], split, sections: list[Section], on_result) -> list[dict]:
    """Run Part A here and Part B in a spawned second process at the same time, the torch threads
    split between them (Part B gets half, rounded down); ``on_result(results)`` after every section
    that ends (in either process).  A section the second process did not report (it died) is an
    error record that says so.  Returns the records in section order."""
    import multiprocessing
    import queue as queue_mod

    part_a, part_b = split
    order = {s.id: i for i, s in enumerate(sections, 1)}
    numbers = {**order, "total": len(sections)}
    threads = torch.get_num_threads()
    tb = max(1, threads // 2)
    mp = multiprocessing.get_context("spawn")
    box = mp.Queue()
    child = mp.Process(target=_part_b_worker, name="fundiff-demo-part-b", daemon=True,
                       args=(argv, [s.id for s in part_b], numbers, tb, ctx.args.fast, str(ctx.impl.path),
                             str(ctx.device), box))
    child.start()
    got: dict[str, dict] = {}
    done = False

    def drain(block: bool) -> None:
        nonlocal done
        while not done:
            try:
                r = box.get(timeout=1.0) if block else box.get_nowait()
            except queue_mod.Empty:
                if block and child.is_alive():
                    continue
                return
            if r is None:
                done = True
            else:
                got[r["id"]] = r
                on_result(sorted(got.values(), key=lambda x: order[x["id"]]))

    print(f"    Part B runs in a second process ({tb} torch thread{'s' if tb > 1 else ''}) beside Part A "
          f"({max(1, threads - tb)}); --jobs 1 runs them one after the other", file=sys.stderr, flush=True)
    torch.set_num_threads(max(1, threads - tb))
    try:
        for sec in part_a:
            got[sec.id] = run_section(ctx, sec, order[sec.id], len(sections))
            drain(block=False)
            on_result(sorted(got.values(), key=lambda x: order[x["id"]]))
        drain(block=True)
        child.join(timeout=10)
    finally:
        torch.set_num_threads(threads)
        if child.is_alive():
            child.terminate()
    for sec in part_b:
        if sec.id not in got:
            got[sec.id] = {"id": sec.id, "title": sec.title, "status": "error", "seconds": 0.0, "cpu_seconds": 0.0,
                           "items": [{"kind": "error", "text": f"the second process (Part B) ended with exit code "
                                                               f"{child.exitcode} before this section reported; "
                                                               f"rerun with --jobs 1 to see its error here"}]}
    return sorted(got.values(), key=lambda x: order[x["id"]])


def main(argv=None, started: float | None = None) -> int:
    """The command line (``started``: perf_counter at process start, to count imports in the total)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    msg = check_model_available(args)
    if msg:
        print(msg, file=sys.stderr)
        return 2
    try:
        impl = load_impl(args.impl)
    except ImplError as err:
        print(f"fundiff.demo: {err}", file=sys.stderr)
        return 2
    sections = select_sections(args.sections)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.fast is None:
        from ..fast import default_enabled

        args.fast = default_enabled(device)
    out = Path(args.out)
    try:
        check_writable_folder(out, "--out", create=True)
        (out / "images").mkdir(exist_ok=True)
    except (ValueError, OSError) as err:
        print(f"python -m fundiff.demo: error: {err}", file=sys.stderr)
        return 2
    ctx = Ctx(args=args, out=out, impl=impl, device=device)
    print(f"fundiff demo → {out}/index.html  (impl {impl.path}, seed {args.seed}, device {device}, "
          f"{'fast' if args.fast else 'fp32'}{', quick' if args.quick else ''})", file=sys.stderr, flush=True)
    if started is not None:  # the whole command, imports included
        t_start, cpu_start = started, 0.0
    else:
        t_start, cpu_start = time.perf_counter(), time.process_time()
    results = []
    title = "fundiff — the course at work"

    def show(so_far):  # the page after every section: a long run can be watched, a killed one leaves a page
        write_page(out / "index.html", title, page_meta(ctx, time.perf_counter() - t_start, argv), so_far, PARTS)

    split = parallel_split(args, sections, device)
    if split:
        results = run_two_processes(ctx, argv, split, sections, show)
    else:
        for i, sec in enumerate(sections, 1):
            results.append(run_section(ctx, sec, i, len(sections)))
            show(results)
    total = time.perf_counter() - t_start
    write_page(out / "index.html", title, page_meta(ctx, total, argv), results, PARTS)
    # CPU time: this process's, plus the second process's sections (it reports them itself)
    cpu = time.process_time() - cpu_start + (sum(r["cpu_seconds"] for r in results if r["id"].startswith("B"))
                                              if split else 0.0)
    timings = {
        "total_s": round(total, 2), "processes": 2 if split else 1, "cpu_s": round(cpu, 1),
        "sections": {r["id"]: {"status": r["status"], "seconds": round(r["seconds"], 2),
                               "cpu_seconds": round(r["cpu_seconds"], 2)} for r in results},
        "fast": args.fast, "quick": args.quick, "full": args.full, "impl": str(impl.path), "threads": torch.get_num_threads(),
    }
    (out / "timings.json").write_text(json.dumps(timings, indent=1))
    counts = {k: sum(r["status"] == k for r in results) for k in ("ok", "partial", "missing", "error")}
    target = (f"; target for the full default run: under {TARGET_S} s on 2 CPU cores"
              if len(sections) == len(SECTIONS) and not args.quick and not args.train and not args.full else "")
    print(f"total {total:.1f} s (CPU {cpu:.0f} s, {_threads()}{target}): {counts['ok']} ok, "
          f"{counts['partial']} partly, {counts['missing']} not implemented yet, {counts['error']} with errors "
          f"→ {(out / 'index.html').resolve()}", file=sys.stderr, flush=True)
    if results and counts["error"] == len(results):  # nothing useful was made: say so in the exit status
        print("fundiff.demo: every section ended in an error (see the page for each one's message)", file=sys.stderr)
        return 1
    return 0


def benchmark(argv: list[str] | None = None) -> dict:
    """Run the demo (default: the full default run into a temporary folder) and return its
    timings: {'total_s', 'cpu_s', 'sections': {id: {'status', 'seconds'}}, …}.  The speed target of
    the full default run is :data:`TARGET_S` seconds on 2 CPU cores."""
    import tempfile

    argv = list(argv or [])
    with tempfile.TemporaryDirectory(prefix="fundiff-demo-") as tmp:
        if "--out" not in argv:
            argv += ["--out", tmp]
        out = Path(argv[argv.index("--out") + 1])
        main(argv)
        return json.loads((out / "timings.json").read_text())
