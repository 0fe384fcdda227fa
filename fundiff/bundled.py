"""The bundled MNIST model of Part A, its commands: ``python -m fundiff.bundled train|images|quality|bench|examples``.

A thin command line; each command runs the code where it lives:

    python -m fundiff.bundled train --out data/bundled [--minutes 30] [--resume]
                                    # fundiff/train_bundled.py: train it (data/bundled/, diffusers format)
    python -m fundiff.bundled images            # fundiff/data/images.py: write the Part A test images
    python -m fundiff.bundled quality           # fundiff/metrics.py: per-digit accuracy of CFG samples
    python -m fundiff.bundled bench             # fundiff/bench.py: sampling speed, ours vs a diffusers loop
    python -m fundiff.bundled examples          # fundiff/demo/examples.py: Part A's tricks as PNG grids

The model itself (its architecture, prompts and loader) is ``fundiff/models/mnist.py``:
``fundiff.models.load_pretrained("bundled")``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .checks import check_writable_folder, finite_float, positive_float, positive_int, seed_int
from .data.images import IMAGES_DIR
from .models.mnist import BUNDLED_DIR


def main(argv=None) -> int:
    """The command line: parse ``argv`` and run the command where it lives."""
    parser = argparse.ArgumentParser(prog="python -m fundiff.bundled",
                                     description="The bundled MNIST model of Part A: train it, write its test "
                                                 "images, measure its samples and its sampling speed.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train", help="train the bundled model")
    p.add_argument("--out", type=Path, default=BUNDLED_DIR)
    p.add_argument("--work", type=Path, default=Path("runs/bundled"))
    p.add_argument("--steps", type=positive_int, default=4000)
    p.add_argument("--minutes", type=positive_float, default=None)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=positive_float, default=2e-3)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--no-autocast", action="store_true")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("images", help="write the Part A test images into data/images/")
    p.add_argument("--out", type=Path, default=IMAGES_DIR)
    p = sub.add_parser("quality", help="per-digit accuracy of CFG samples (fundiff.metrics)")
    p.add_argument("--gammas", type=finite_float, nargs="+", default=[1.0, 2.0, 3.0, 5.0, 7.0])
    p.add_argument("--n", type=positive_int, default=50, help="samples per digit")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--path", type=Path, default=BUNDLED_DIR)
    p.add_argument("--fast", action="store_true", help="sample on the fast path (fundiff.fast: bf16, traced)")
    p = sub.add_parser("bench", help="sampling speed: ours vs a diffusers DDPMScheduler loop")
    p.add_argument("--n", type=positive_int, default=64)
    p.add_argument("--gamma", type=finite_float, default=5.0)
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--threads", type=positive_int, default=2)
    p = sub.add_parser("examples", help="Part A tricks on the bundled model as PNG grids")
    p.add_argument("--out", type=Path, default=Path("runs/bundled_examples"))
    p.add_argument("--gamma", type=finite_float, default=5.0)
    p.add_argument("--seed", type=seed_int, default=0)
    args = parser.parse_args(argv)
    for name in ("out", "work"):
        if getattr(args, name, None) is not None:
            try:
                check_writable_folder(getattr(args, name), f"--{name}")
            except ValueError as err:
                parser.error(str(err))
    if args.cmd == "train" and args.resume and not (args.work / "state.safetensors").is_file():
        parser.error(f"--resume: {args.work} holds no training state to resume ({args.work / 'state.safetensors'} "
                     "is missing); leave out --resume to start afresh")
    if args.cmd == "quality":
        missing = [part for part in ("unet/config.json", "scheduler/scheduler_config.json") if not (args.path / part).is_file()]
        if missing:
            parser.error(f"--path {args.path}: not a bundled model folder ({args.path / missing[0]} is missing)")
    if args.cmd == "train":
        from .train_bundled import train

        train(args.out, args.work, args.steps, args.minutes, args.batch_size, args.lr, seed=args.seed,
              autocast=not args.no_autocast, threads=args.threads, resume=args.resume)
    elif args.cmd == "quality":
        from .metrics import parta_quality
        from .models.mnist import load_bundled

        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_bundled("cpu", args.path)
        if args.fast:
            from .fast import fast_model

            model = fast_model(model)
        parta_quality(model, args.gammas, args.n, args.seed)
    elif args.cmd == "bench":
        from .bench import parta_vs_diffusers

        parta_vs_diffusers(args.n, args.gamma, args.repeats, args.threads)
    elif args.cmd == "examples":
        from .demo.examples import examples

        for path in examples(args.out, args.gamma, args.seed):
            print(path)
    elif args.cmd == "images":
        from .data.images import write_images

        for path in write_images(args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
