"""The emoji classifier: what a picture of the emoji model reads as (the quality metric of Part A).

A small CNN trained on the shipped pictures (``data/emoji/emoji_32_subset.npz``, both styles, every
skin tone) with augmentations that cover what it will be shown: shifts and rescales (white fill),
colour jitter, Gaussian blur (σ up to 2, so a hybrid's blurred reading is in range), down-and-up
sampling to 8–16 px (a hybrid seen from afar), and pixel noise (unfinished samples).  No flips as
augmentation: an anagram's flipped view must read as what it shows, not as its upright twin.  Instead
every picture turned upside down or by 90°/180°/270° is a picture of one extra class, ``TURNED``
(:func:`turned_pictures`), unless it looks like an upright picture (a ball, the moons that are each
other's mirror image): a wave upside down then reads as "a turned picture", not as the emoji it
happens to resemble most, the way a viewer sees it.  Without that class (the first shipped
classifier) turned drawings read as other emoji, and one template turned round passed as an anagram.

    python -m fundiff.emoji.classifier train      # writes data/emoji/classifier.safetensors
    python -m fundiff.emoji.classifier train --sharp --out data/emoji/classifier_near.safetensors
    python -m fundiff.emoji.classifier eval [--out FILE]   # accuracy on clean, blurred, downsampled, turned pictures

A second classifier, the *near reader* (``--sharp``, :data:`NEAR_READER_FILE`), reads a hybrid image
as a viewer does up close: trained without blur or downsampling and with its colours shuffled (the
channels permuted or grey), it reads a drawing by its lines and shapes, not by its colours, which a
hybrid takes from its *far* prompt (the low frequencies).  The first classifier, trained on blurred
and downsampled pictures, reads the hybrid from afar.

``classify(x)`` takes x (B, 3, 32, 32) in [−1, 1] and returns the concept index (B,) of
:func:`fundiff.emoji.concepts.load_subset`'s ``names``.
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .concepts import EMOJI_DIR, load_subset

CLASSIFIER_FILE = EMOJI_DIR / "classifier.safetensors"
NEAR_READER_FILE = EMOJI_DIR / "classifier_near.safetensors"
WIDTHS = (32, 64, 128)
#: The name of the extra last class: a picture turned by one of :data:`TURNS`.
TURNED = "(a turned picture)"
#: The turns of :func:`turned_pictures`: name -> function of (N, C, H, W).
TURNS = {
    "upside down": lambda x: x.flip(-2),
    "rotated 90°": lambda x: x.rot90(1, (-2, -1)),
    "rotated 180°": lambda x: x.rot90(2, (-2, -1)),
    "rotated 270°": lambda x: x.rot90(3, (-2, -1)),
}
#: A turned picture whose per-pixel mean squared distance to some upright picture is below this
#: looks upright (symmetric emoji, mirror twins) and is left out of the TURNED class.
UPRIGHT_LOOKALIKE_MSE = 0.02


def build_classifier(num_classes: int, widths=WIDTHS) -> nn.Sequential:
    """Three stages of two 3×3 conv–BN–ReLU layers (32, 16, 8 px), global average pool, linear."""
    layers, c_in = [], 3
    for i, w in enumerate(widths):
        for c in (c_in, w):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        layers += [nn.MaxPool2d(2)] if i < len(widths) - 1 else []
        c_in = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c_in, num_classes))


def blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur (reflect padding), x (B, C, H, W), sigma (B,) ≥ 0 (0 = unchanged)."""
    r = 4
    k = torch.arange(-r, r + 1, dtype=x.dtype)
    w = torch.exp(-k[None] ** 2 / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    w = w / w.sum(1, keepdim=True)  # (B, 2r+1)
    B, C, H, W = x.shape
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    xh = (xp.unfold(3, 2 * r + 1, 1) * w.view(B, 1, 1, 1, -1)).sum(-1)
    return (xh.unfold(2, 2 * r + 1, 1) * w.view(B, 1, 1, 1, -1)).sum(-1)


def down_up(x: torch.Tensor, size: int) -> torch.Tensor:
    """x seen from afar: area-downsampled to size×size, then bilinear back to its size."""
    return F.interpolate(F.interpolate(x, size=(size, size), mode="area"), size=x.shape[-2:], mode="bilinear",
                         align_corners=False)


def augment(x: torch.Tensor, gen: torch.Generator, sharp: bool = False) -> torch.Tensor:
    """The training augmentations of the module docstring; x (B, 3, 32, 32) in [−1, 1].  ``sharp``
    (the near reader): no blur and no downsampling, and the colours shuffled (the channels permuted,
    or grey, each in a third of the pictures) so that it reads a drawing by its lines and shapes."""
    B = x.shape[0]
    u = torch.rand(B, 8, generator=gen)
    scale = 0.85 + 0.3 * u[:, 0]
    shift = (u[:, 1:3] - 0.5) * 0.25
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    outside = (grid.abs() > 1).any(-1, keepdim=True).permute(0, 3, 1, 2)
    x = torch.where(outside, torch.ones_like(x), F.grid_sample(x, grid, align_corners=False))  # white fill
    x = (x * (0.8 + 0.4 * u[:, 3]).view(B, 1, 1, 1) + (u[:, 4] - 0.5).view(B, 1, 1, 1) * 0.3)
    if sharp:
        perm = torch.stack([torch.randperm(3, generator=gen) for _ in range(B)])
        shuffled = x.gather(1, perm.view(B, 3, 1, 1).expand_as(x))
        grey = x.mean(1, keepdim=True).expand_as(x)
        pick = u[:, 5].view(B, 1, 1, 1)
        x = torch.where(pick < 1 / 3, shuffled, torch.where(pick > 2 / 3, grey, x))
    else:
        sig = torch.where(u[:, 5] < 0.5, u[:, 6] * 2.0, torch.zeros(B))
        x = blur(x, sig)
        far = u[:, 7] < 0.2
        if far.any():
            size = int(8 + 8 * float(torch.rand(1, generator=gen)))
            x[far] = down_up(x[far], size)
    x = x + torch.randn(x.shape, generator=gen) * 0.1 * torch.rand(B, 1, 1, 1, generator=gen)
    return x.clamp(-1.5, 1.5)


def pictures() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(x (N, 3, 32, 32) in [−1, 1], labels (N,), names) of the shipped subset."""
    d = load_subset()
    x = torch.from_numpy(d["images"]).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x.contiguous(), torch.from_numpy(d["labels"].astype("int64")), [str(n) for n in d["names"]]


def looks_upright(t: torch.Tensor, x: torch.Tensor, threshold: float = UPRIGHT_LOOKALIKE_MSE) -> torch.Tensor:
    """(M,) bool: turned pictures t (M, 3, H, W) whose per-pixel MSE to their nearest picture of x
    (N, 3, H, W), min_j mean((t_i − x_j)²), is below ``threshold``: they look like an upright picture."""
    flat = x.flatten(1)
    return torch.cdist(t.flatten(1), flat).pow(2).min(1).values / flat.shape[1] < threshold


def turned_pictures(x: torch.Tensor, threshold: float = UPRIGHT_LOOKALIKE_MSE) -> torch.Tensor:
    """The TURNED class's pictures: every picture of x (N, 3, H, W) through every turn of :data:`TURNS`
    that does not :func:`looks_upright`.  Returns (M, 3, H, W), M ≤ 4N."""
    return torch.cat([t[~looks_upright(t, x, threshold)] for t in (turn(x) for turn in TURNS.values())])


def train(out: Path = CLASSIFIER_FILE, steps: int = 2000, batch_size: int = 96, lr: float = 3e-3, seed: int = 0,
          threads: int | None = None, sharp: bool = False) -> dict:
    """Train the classifier with AdamW (one-cycle cosine LR) and write it to ``out`` (safetensors)."""
    from ..checkpoint import save_atomic

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y, names = pictures()
    names = [*names, TURNED]
    turned = turned_pictures(x)
    n_turned = batch_size // 4
    net = build_classifier(len(names))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch_size - n_turned,), generator=gen)
        tdx = torch.randint(0, len(turned), (n_turned,), generator=gen)
        xb = torch.cat([x[idx], turned[tdx]])
        yb = torch.cat([y[idx], torch.full((n_turned,), len(names) - 1)])
        loss = F.cross_entropy(net(augment(xb, gen, sharp)), yb, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1} loss {loss.item():.3f} {time.time() - t0:.0f} s", flush=True)
    net.eval()
    save_atomic(net.state_dict(), out, {"names": "\n".join(names), "widths": ",".join(map(str, WIDTHS)),
                                        "steps": str(steps), "seed": str(seed), "sharp": str(sharp),
                                        "turned_pictures": str(len(turned))})
    Path(out).chmod(0o644)
    return {"steps": steps, "seconds": round(time.time() - t0, 1)}


@lru_cache(maxsize=2)
def load_classifier(path: str | Path = CLASSIFIER_FILE) -> tuple[nn.Module, list[str]]:
    """(the trained classifier in eval mode, the concept names it outputs)."""
    from ..checkpoint import load_checked

    tensors, meta = load_checked(path)
    names = meta["names"].split("\n")
    net = build_classifier(len(names), tuple(int(w) for w in meta["widths"].split(",")))
    net.load_state_dict(tensors)
    return net.eval(), names


def at_classifier_size(x: torch.Tensor) -> torch.Tensor:
    """Pictures x (B, 3, S, S) at the classifier's 32 px: x itself at 32, else area-downsampled (the
    64-px subset so downsampled is within 0.012 mean absolute difference, in [−1, 1], of the 32-px one)."""
    return x if x.shape[-1] == 32 else F.interpolate(x.float(), size=(32, 32), mode="area")


@torch.no_grad()
def logits(x: torch.Tensor, path: str | Path = CLASSIFIER_FILE) -> torch.Tensor:
    """The classifier's logits (B, K) over the concepts for pictures x (B, 3, 32, 32) in [−1, 1]; a 64-px
    model's pictures (B, 3, 64, 64) are read at the classifier's 32 px (:func:`at_classifier_size`)."""
    if (not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]
            or x.shape[-1] not in (32, 64)):
        raise ValueError(f"the emoji classifier expects (B, 3, 32, 32) or (B, 3, 64, 64) pictures in [-1, 1], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    x = at_classifier_size(x)
    net, _ = load_classifier(path)
    return torch.cat([net(c.float().cpu()) for c in x.split(256)])


def classify(x: torch.Tensor, path: str | Path = CLASSIFIER_FILE, turned: bool = True) -> torch.Tensor:
    """Concept index (B,) of pictures x (B, 3, 32, 32) in [−1, 1]: the top-1 of :func:`logits`, K
    (= len(concepts)) for TURNED.  ``turned=False``: the top-1 over the K concepts alone (a picture
    that is no upright emoji still gets the concept it is closest to)."""
    z = logits(x, path)
    _, names = load_classifier(path)
    return (z if turned or names[-1] != TURNED else z[:, :-1]).argmax(1)


def evaluate(seed: int = 1, path: str | Path = CLASSIFIER_FILE) -> dict:
    """Top-1 accuracy on the shipped pictures: clean, blurred (σ = 1, 2), downsampled (16, 8 px),
    augmented as in training (fresh draws), grey and with the colour channels permuted (what a reader of
    colours gets wrong and the near reader does not); and for the turned pictures (:func:`turned_pictures`), the
    share read as TURNED and the share read as some other concept than their own."""
    x, y, _ = pictures()
    gen = torch.Generator().manual_seed(seed)
    views = {"clean": x, "blur σ=1": blur(x, torch.ones(len(x))), "blur σ=2": blur(x, 2 * torch.ones(len(x))),
             "seen at 16 px": down_up(x, 16), "seen at 8 px": down_up(x, 8), "augmented": augment(x, gen),
             "grey": x.mean(1, keepdim=True).expand_as(x), "colours permuted (RGB -> BRG)": x[:, [2, 0, 1]]}
    out = {k: round(float((classify(v, path) == y).float().mean()), 4) for k, v in views.items()}
    _, names = load_classifier(path)
    if names[-1] == TURNED:
        for turn_name, turn in TURNS.items():
            t = turn(x)
            kept = ~looks_upright(t, x)
            read = classify(t[kept], path)
            out[f"{turn_name}: read as turned"] = round(float((read == len(names) - 1).float().mean()), 4)
            out[f"{turn_name}: read as another emoji"] = round(
                float(((read != len(names) - 1) & (read != y[kept])).float().mean()), 4)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fundiff.emoji.classifier")
    p.add_argument("command", choices=["train", "eval"])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sharp", action="store_true", help="train the near reader (no blur, colours shuffled)")
    p.add_argument("--out", type=Path, default=CLASSIFIER_FILE, help="the classifier file (written by train)")
    a = p.parse_args(argv)
    if a.command == "train":
        print(train(out=a.out, steps=a.steps, threads=a.threads, sharp=a.sharp))
    print(evaluate(path=a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
