"""A digit classifier, the package's quality metric for generated digits.

``python -m fundiff.metrics train`` trains a small CNN on the 4,500 bundled training digits (with
small random affine jitter, so that generated digits that are a pixel off still read) and ships it
as ``data/digit_classifier.safetensors``; it prints its accuracy on the 500 held-out digits.

    >>> from fundiff.metrics import classify, per_digit_accuracy
    >>> labels = classify(samples)                       # samples: (N, 1, 28, 28) in [0, 1]
    >>> per_digit_accuracy(samples, asked)               # {digit: share recognized as asked}

Quality of the package's models with it: :func:`partb_quality` (``python -m fundiff.metrics partb
WEIGHTS``) and :func:`compare` / :func:`pool` for Part B, :func:`parta_quality` (``python -m
fundiff.bundled quality``) for the bundled Part A model.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checked, save_atomic
from .checks import device_name, finite_float, positive_int, seed_int
from .data import DATA_DIR, load_digits
from .impl import as_impl

CLASSIFIER_PATH = DATA_DIR / "digit_classifier.safetensors"


def classifier_net() -> nn.Sequential:
    """(N, 1, 28, 28) in [0, 1] → (N, 10) logits: two conv-pool stages and a linear head."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def random_affine(x: torch.Tensor, gen: torch.Generator, degrees=10.0, scale=0.1, shift=2.0) -> torch.Tensor:
    """Jitter a batch (N, 1, 28, 28): rotation ±degrees, scale 1±scale, translation ±shift px."""
    n = x.shape[0]
    u = torch.rand(n, 4, generator=gen) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    s = 1 + u[:, 1] * scale
    tx, ty = u[:, 2] * shift * 2 / 28, u[:, 3] * shift * 2 / 28
    theta = torch.stack([
        torch.stack([torch.cos(angle) / s, -torch.sin(angle) / s, tx], 1),
        torch.stack([torch.sin(angle) / s, torch.cos(angle) / s, ty], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_classifier(epochs: int = 16, seed: int = 0, batch_size: int = 128, lr: float = 2e-3):
    """Train :func:`classifier_net` on the bundled training digits; returns (model, held-out accuracy)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    x, y = load_digits("train")
    model = classifier_net()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(random_affine(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    xh, yh = load_digits("heldout")
    with torch.no_grad():
        acc = (model(xh).argmax(1) == yh).float().mean().item()
    return model, acc


@lru_cache(maxsize=1)
def load_classifier(path: str | Path = CLASSIFIER_PATH) -> nn.Sequential:
    """The shipped classifier (eval mode, CPU)."""
    tensors, _ = load_checked(path)
    model = classifier_net()
    model.load_state_dict(tensors)
    return model.eval()


def check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected digits of shape (N, 1, 28, 28) with values in [0, 1], got {shape}")
    images = images.detach().float().cpu()
    if images.min() < -0.05 or images.max() > 1.05:
        raise ValueError(f"expected values in [0, 1] (got [{images.min():.2f}, {images.max():.2f}]); "
                         "map [-1, 1] images with (x + 1) / 2 first")
    return images.clamp(0, 1)


@torch.no_grad()
def classify(images: torch.Tensor) -> torch.Tensor:
    """Predicted digit (N,) int64 for images (N, 1, 28, 28) in [0, 1]."""
    model = load_classifier()
    x = check_images(images)
    return torch.cat([model(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])


def per_digit_accuracy(images: torch.Tensor, asked: torch.Tensor) -> dict[int, float]:
    """{digit: share of the images asked to be that digit that the classifier reads as it}."""
    got = classify(images)
    asked = torch.as_tensor(asked).long().cpu()
    return {int(d): float((got[asked == d] == d).float().mean()) for d in asked.unique()}


def partb_quality(weights: str | Path, per_digit: int = 10, guidance_scale: float = 5.0, seed: int = 0,
                  fast: bool = False) -> dict[int, float]:
    """Per-digit share of a class-conditioned Part B model's CFG samples read as the asked digit.

    ``weights``: a file written by fundiff.train (e.g. data/partb/class_epoch20.safetensors); samples:
    ``per_digit`` of every digit in one batch with solutions' DDPM sampler at ``guidance_scale`` (CPU
    generator seeded ``seed``), fp32 unless ``fast`` (fundiff.fast's reduced-precision path)."""
    asked, (correct,) = paired_correct([(weights, fast)], per_digit, guidance_scale, seed, chunk=10 * per_digit)
    return {d: float(correct[asked == d].float().mean()) for d in range(10)}


def cfg_sample(model, prompt: str, n: int, guidance_scale: float, generator: torch.Generator,
               timesteps=None, impl=None) -> torch.Tensor:
    """n samples of ``prompt`` with the Part A loop (``denoise.sample``) and classifier-free guidance
    (``guidance.cfg_estimator`` against the null prompt); timesteps default 990, 960, …, 0.
    Returns (n, 1, 28, 28) in [-1, 1] (clamped)."""
    impl = as_impl(impl)
    timesteps = impl.denoise.strided_timesteps() if timesteps is None else timesteps
    est = impl.guidance.cfg_estimator(model.estimator(prompt), model.estimator(model.null_prompt), guidance_scale)
    x = impl.denoise.sample(est, (n, *model.image_shape), timesteps, model.alphas_cumprod, generator,
                            device=model.device)
    return x.float().cpu().clamp(-1, 1)


def parta_quality(model=None, guidance_scales=(1.0, 2.0, 3.0, 5.0, 7.0), n_per_digit: int = 50, seed: int = 0,
                  impl=None) -> dict:
    """Per-digit share of the bundled Part A model's CFG samples (``model``: default the shipped one,
    on the CPU) that :func:`classify` reads as the asked digit, for each γ: {γ: {"per_digit": {d:
    share}, "mean": …, "min": …}}.  Samples: solutions' Part A loop (or ``impl``'s), 990, 960, …, 0;
    all from one generator seeded with ``seed`` (the same noise for every γ)."""
    from .models.mnist import NULL_CLASS, load_bundled

    impl = as_impl(impl)
    model = load_bundled("cpu") if model is None else model
    labels = torch.arange(10).repeat_interleave(n_per_digit)
    null = torch.full_like(labels, NULL_CLASS)
    results = {}
    for gamma in guidance_scales:
        # all digits in one batch: estimators with one class label per image (the same math as
        # cfg_estimator(model.estimator(str(d)), model.estimator(""), γ) digit by digit)
        est = impl.guidance.cfg_estimator(lambda x, t: model.predict(x, t, labels),
                                          lambda x, t: model.predict(x, t, null), gamma)
        g = torch.Generator().manual_seed(seed)
        x = impl.denoise.sample(est, (len(labels), *model.image_shape), impl.denoise.strided_timesteps(),
                                model.alphas_cumprod, g).float().clamp(-1, 1)
        acc = per_digit_accuracy((x + 1) / 2, labels)
        results[gamma] = {"per_digit": acc, "mean": sum(acc.values()) / len(acc), "min": min(acc.values())}
        print(f"γ = {gamma}: mean {results[gamma]['mean']:.1%}, min {results[gamma]['min']:.1%}, per digit "
              + " ".join(f"{d}:{a:.0%}" for d, a in acc.items()), flush=True)
    return results


def parse_spec(spec: str) -> tuple[str, bool]:
    """'PATH' → (PATH, False) (float32 sampling); 'PATH:fast' → (PATH, True) (the fast path)."""
    for mode in ("fast", "fp32"):
        if spec.endswith(":" + mode):
            return spec[:-len(mode) - 1], mode == "fast"
    return spec, False


def paired_correct(specs, per_digit: int = 100, guidance_scale: float = 5.0, seed: int = 0, device="cpu",
                   chunk: int = 500) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Paired samples of several class-conditioned Part B models: every model samples the same
    digits from the same noise (chunk k of ≤ ``chunk`` digits uses a CPU generator seeded
    ``seed + k``), with solutions' DDPM sampler and CFG at ``guidance_scale``.

    specs: [(weights path, fast)] — fast samples on fundiff.fast's reduced-precision path.
    Returns (asked (N,), [correct (N,) bool per spec]) with N = 10·per_digit."""
    from .fast import fast_model
    from .impl import load_impl
    from .train import load_weights

    train = load_impl("solutions").train
    asked = torch.arange(10).repeat(per_digit)
    results = []
    cuda = torch.device(device).type == "cuda"
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) if cuda else None
    try:
        for path, fast in specs:
            if cuda:  # float32 sampling is float32 (no TF32) on a GPU too
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = fast and tf32[0]
            model, cfg = load_weights(path, device=device, with_config=True)
            model = fast_model(model, device, enabled=fast)
            schedule = train.ddpm_schedule(cfg.beta1, cfg.beta2, cfg.num_ts)  # the model's own T
            correct = []
            for k, lo in enumerate(range(0, len(asked), chunk)):
                a = asked[lo:lo + chunk]
                x = train.ddpm_sample(model, (len(a), 1, 28, 28), schedule, torch.Generator().manual_seed(seed + k),
                                      c=F.one_hot(a, 10).float(), guidance_scale=guidance_scale)
                correct.append(classify(x.clamp(0, 1)) == a)
            results.append(torch.cat(correct))
    finally:
        if cuda:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    return asked, results


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Accuracy of a minus accuracy of b, in points, with a 95 % interval from the paired differences
    d_i = a_i − b_i (normal approximation), and the discordant pair counts.  a, b: (N,) bool."""
    return difference_from_counts(int((a & ~b).sum()), int((~a & b).sum()), len(a))


def difference_from_counts(a_only: int, b_only: int, n: int) -> dict:
    """:func:`paired_difference` from its sufficient statistics: of n pairs, ``a_only`` right only
    under a and ``b_only`` right only under b.  With d_i ∈ {−1, 0, 1}:

        mean = (a_only − b_only) / n,   s² = (a_only + b_only − n·mean²) / (n − 1),
        95 % CI = mean ± 1.96·s/√n          (in points: × 100)."""
    if a_only < 0 or b_only < 0 or a_only + b_only > n:
        raise ValueError(f"discordant counts a_only={a_only}, b_only={b_only} must be ≥ 0 and sum to ≤ n={n}")
    mean = (a_only - b_only) / n if n else float("nan")
    half = 1.96 * math.sqrt(max(a_only + b_only - n * mean * mean, 0.0) / (n - 1) / n) if n > 1 else float("nan")
    return {"diff_points": 100 * mean, "ci95_points": [100 * (mean - half), 100 * (mean + half)],
            "a_only": a_only, "b_only": b_only, "n": n}


def noise_seeds(per_digit: int, seed: int, chunk: int) -> list[int]:
    """The generator seeds of :func:`paired_correct`'s chunks: seed, seed + 1, … (one per chunk)."""
    return [seed + k for k in range(math.ceil(10 * per_digit / chunk))]


def pool(results: list[dict], across_models: bool = False) -> dict:
    """Several :func:`compare` results as one: per model the accuracy over all samples and the paired
    difference against the first model from the summed discordant counts
    (:func:`difference_from_counts`; exactly the interval of one run with all the samples).

    Results of the same models (same order) must have sampled disjoint noise seeds.  With
    ``across_models`` the models may differ position by position (e.g. the same fast-vs-plain
    comparison repeated over training seeds: position 2 pools every run's second model)."""
    if not results:
        raise ValueError("pool needs at least one compare result")
    names = [[(m["weights"], m["sampling"]) for m in r["models"]] for r in results]
    for i, other in enumerate(names[1:], 1):
        same = other == names[0] if not across_models else [s for _, s in other] == [s for _, s in names[0]]
        if not same:
            raise ValueError(f"result {i} compares {other}, result 0 compares {names[0]}: pool needs the same "
                             "models in the same order" + ("" if across_models else
                                                           " (--across-models: as many, sampled the same way)"))
    gammas = sorted({r["guidance_scale"] for r in results})
    if len(gammas) > 1:
        raise ValueError(f"the results sampled at different guidance scales {gammas}: pool needs one")
    seen: dict[tuple, int] = {}
    for i, r in enumerate(results):
        for s in r.get("noise_seeds") or noise_seeds(r["per_digit"], r["seed"], r.get("chunk", 500)):
            key = (tuple(names[i]), s)
            if key in seen:
                raise ValueError(f"results {seen[key]} and {i} sampled the same models from noise seed {s}: pooled "
                                 "samples must be independent (give compare another --seed)")
            seen[key] = i
    per = sum(r["per_digit"] for r in results)
    out = {"pooled": len(results), "per_digit": per, "guidance_scale": gammas[0],
           "noise_seeds": sorted({s for _, s in seen}), "models": []}
    for j, (_, sampling) in enumerate(names[0]):
        path = " + ".join(dict.fromkeys(n[j][0] for n in names))
        ms = [r["models"][j] for r in results]
        n = sum(m["vs_first"]["n"] for m in ms)
        digit = [{int(d): a for d, a in m["per_digit"].items()} for m in ms]  # JSON keys are strings
        out["models"].append({
            "weights": path, "sampling": sampling,
            "accuracy": sum(m["accuracy"] * m["vs_first"]["n"] for m in ms) / n,
            "per_digit": {d: sum(a[d] * r["per_digit"] for a, r in zip(digit, results)) / per for d in range(10)},
            "vs_first": difference_from_counts(sum(m["vs_first"]["a_only"] for m in ms),
                                               sum(m["vs_first"]["b_only"] for m in ms), n),
        })
    return out


def compare(specs, per_digit: int = 100, guidance_scale: float = 5.0, seed: int = 0, device="cpu",
            chunk: int = 500) -> dict:
    """:func:`paired_correct` summarized (:func:`summarize`): per model its overall and per-digit
    accuracy, and each model against the first (:func:`paired_difference`)."""
    asked, correct = paired_correct(specs, per_digit, guidance_scale, seed, device, chunk)
    out = summarize(specs, asked, correct)
    out.update(per_digit=per_digit, guidance_scale=guidance_scale, seed=seed, chunk=chunk,
               noise_seeds=noise_seeds(per_digit, seed, chunk), device=str(device))
    return out


def summarize(specs, asked: torch.Tensor, correct: list[torch.Tensor]) -> dict:
    """{"models": [...]}: per spec (weights, fast) its accuracy, per-digit accuracy and
    :func:`paired_difference` against the first.  asked: (N,) digits; correct: [(N,) bool]."""
    return {"models": [{
        "weights": str(path), "sampling": "fast" if fast else "fp32", "accuracy": float(c.float().mean()),
        "per_digit": {int(d): float(c[asked == d].float().mean()) for d in range(10)},
        "vs_first": paired_difference(c, correct[0]),
    } for (path, fast), c in zip(specs, correct)]}


def print_comparison(r: dict) -> None:
    """Each model of a :func:`compare` / :func:`pool` result: accuracy and difference to the first."""
    for m in r["models"]:
        v = m["vs_first"]
        print(f"{m['weights']} [{m['sampling']}]: {m['accuracy']:.2%}   vs first: {v['diff_points']:+.2f} points "
              f"(95% CI {v['ci95_points'][0]:+.2f} … {v['ci95_points'][1]:+.2f}; right only here {v['a_only']}, "
              f"only there {v['b_only']} of {v['n']})")
        if "per_digit" in m:
            print("    per digit: " + "  ".join(f"{d}: {a:.0%}" for d, a in m["per_digit"].items()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["train", "check", "partb", "compare", "pool"],
                   help="train the classifier, check it on the held-out digits, read a Part B model's samples, "
                        "compare several models on paired samples (same digits, same noise), or pool the "
                        "JSON results of several compare runs of the same models on other noise seeds")
    p.add_argument("weights", nargs="*", help="partb: a class-conditioned weights file; compare: two or more, "
                                              "each PATH or PATH:fast (sampled on the fast path); pool: the "
                                              "--json files of compare runs")
    p.add_argument("--device", type=device_name, default="cpu", help="compare: where to sample (cpu, cuda)")
    p.add_argument("--chunk", type=positive_int, default=500, help="compare: digits sampled per batch")
    p.add_argument("--json", help="compare, pool: also write the results to this file")
    p.add_argument("--per-digit", type=positive_int, default=10)
    p.add_argument("--gamma", type=finite_float, default=5.0)
    p.add_argument("--fast", action="store_true", help="partb: sample on the reduced-precision path")
    p.add_argument("--across-models", action="store_true",
                   help="pool: the runs may compare different weights files, pooled position by position "
                        "(e.g. one comparison repeated over training seeds)")
    p.add_argument("--epochs", type=positive_int, default=16)
    p.add_argument("--seed", type=seed_int, default=0)
    args = p.parse_intermixed_args(argv)  # flags may come between the files
    if args.command in ("partb", "compare"):
        for w in args.weights:
            path = parse_spec(w)[0] if args.command == "compare" else w
            if not Path(path).is_file():
                p.error(f"{path}: no such weights file (expected a .safetensors file written by fundiff.train)")
    elif args.command in ("train", "check") and args.weights:
        p.error(f"{args.command} takes no files, got {' '.join(args.weights)}")
    if args.command == "train":
        t0 = time.perf_counter()
        model, acc = train_classifier(args.epochs, args.seed)
        meta = {"epochs": str(args.epochs), "seed": str(args.seed), "heldout_accuracy": f"{acc:.4f}",
                "data": "data/mnist_5k.npz train split (4,500 digits)",
                "written_by": "python -m fundiff.metrics train"}
        save_atomic(model.state_dict(), CLASSIFIER_PATH, meta)
        print(json.dumps(meta))
        print(f"trained in {time.perf_counter() - t0:.0f} s; held-out accuracy {acc:.2%} → {CLASSIFIER_PATH}")
    elif args.command == "partb":
        if len(args.weights) != 1:
            p.error("partb reads the weights file of one class-conditioned model")
        t0 = time.perf_counter()
        args.weights = args.weights[0]
        acc = partb_quality(args.weights, args.per_digit, args.gamma, args.seed, args.fast)
        print(f"{args.weights}: γ={args.gamma:g}, {args.per_digit} per digit, seed {args.seed}, "
              f"{'fast' if args.fast else 'fp32'} sampling ({time.perf_counter() - t0:.0f} s)")
        print("per digit: " + "  ".join(f"{d}: {a:.0%}" for d, a in acc.items()))
        print(f"overall: {sum(acc.values()) / len(acc):.1%}")
    elif args.command == "compare":
        if len(args.weights) < 2:
            p.error("compare needs two or more weights files (PATH or PATH:fast)")
        t0 = time.perf_counter()
        r = compare([parse_spec(w) for w in args.weights], args.per_digit, args.gamma, args.seed, args.device, args.chunk)
        print(f"{args.per_digit} per digit, γ={args.gamma:g}, seed {args.seed}, paired noise, on {args.device} "
              f"({time.perf_counter() - t0:.0f} s)")
        print_comparison(r)
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=1))
    elif args.command == "pool":
        if not args.weights:
            p.error("pool reads the --json files of one or more compare runs")
        results = []
        for f in args.weights:
            try:
                results.append(json.loads(Path(f).read_text()))
            except (OSError, ValueError) as e:
                p.error(f"{f}: not a readable compare --json file ({e})")
        try:
            r = pool(results, args.across_models)
        except (KeyError, TypeError) as e:
            p.error(f"not compare --json files (missing {e})")
        except ValueError as e:
            p.error(str(e))
        print(f"{len(results)} compare runs pooled: {r['per_digit']} per digit, γ={r['guidance_scale']:g}, "
              f"noise seeds {r['noise_seeds']}")
        print_comparison(r)
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=1))
    else:
        xh, yh = load_digits("heldout")
        acc = (classify(xh) == yh).float().mean().item()
        print(f"held-out accuracy of {CLASSIFIER_PATH.name}: {acc:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
