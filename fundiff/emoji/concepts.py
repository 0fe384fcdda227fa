"""Which emoji the shipped emoji model learned, and what each is called.

The source data (``../shared/data/emoji_32.npz``, see ``data/emoji/README.md``) holds 7,572 pictures
of 1,911 emoji.  A CPU budget of about two hours cannot teach a diffusion model all of them, so the
shipped model learns a curated subset: every emoji of the subcategories in :data:`SUBCATEGORIES`
(faces, animals, food, plants, weather, vehicles, places, instruments, writing tools) plus the
emoji in :data:`EXTRA_NAMES` (the people and objects the course's prompts need), in both drawing
styles and, for people, every skin tone.

A *concept* is one emoji; its *captions* are the texts the model was trained to draw it from: its
Unicode name, its short names, a few templates ("a photo of a …"), and the course's prompts mapped
to it (:data:`COURSE_PROMPTS`, e.g. "a rocket ship" → "rocket").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
EMOJI_DIR = DATA_DIR / "emoji"
SUBSET_FILE = EMOJI_DIR / "emoji_32_subset.npz"
#: The same pictures at 64 px (IF stage 1's size), for ``python -m fundiff.emoji.train --size 64``.
SUBSET_FILE_64 = EMOJI_DIR / "emoji_64_subset.npz"
#: The subset file of each picture size.
SUBSET_FILES = {32: SUBSET_FILE, 64: SUBSET_FILE_64}

SUBCATEGORIES = (
    "face-smiling", "face-affection", "face-tongue", "face-hand", "face-neutral-skeptical", "face-sleepy",
    "face-unwell", "face-concerned", "face-negative", "face-costume", "face-hat", "face-glasses", "cat-face",
    "monkey-face", "animal-mammal", "animal-bird", "animal-marine", "animal-bug", "animal-reptile",
    "food-fruit", "food-vegetable", "food-sweet", "plant-flower", "plant-other", "sky & weather",
    "transport-air", "transport-water", "place-geographic", "writing", "musical-instrument",
)
EXTRA_NAMES = (
    "man", "woman", "older man", "older woman", "baby", "boy", "girl", "bearded person", "child",
    "house building", "christmas tree", "jack-o-lantern", "soccer ball", "basketball and hoop", "automobile",
    "bus", "bicycle", "ambulance", "racing car", "tent", "ferris wheel", "hamburger", "slice of pizza",
    "hot dog", "bread", "egg", "balloon", "wrapped present", "crown", "top hat", "eyeglasses", "key",
    "light bulb", "electric light bulb", "candle", "bomb", "hammer", "alarm clock", "hourglass", "red heart",
    "brain", "eye", "tooth", "bone", "crystal ball", "teddy bear", "game die", "camera", "television",
    "telephone receiver", "envelope", "books", "scissors", "lock", "cityscape", "night with stars",
    "sunrise over mountains", "fountain", "european castle", "statue of liberty", "tokyo tower",
)

#: The course's prompts (and short forms of them) mapped to the emoji the model can draw.  None maps
#: a prompt to the unconditional model (the course's "a high quality photo" for SDEdit projections).
COURSE_PROMPTS = {
    "a rocket ship": "rocket",
    "a pencil": "pencil",
    "an oil painting of a snowy mountain village": "snow-capped mountain",
    "a snowy mountain village": "snow-capped mountain",
    "a photo of the amalfi cost": "beach with umbrella",
    "a photo of the amalfi coast": "beach with umbrella",
    "a photo of a man": "man",
    "a photo of a hipster barista": "bearded person",
    "a photo of a dog": "dog face",
    "an oil painting of people around a campfire": "fire",
    "a campfire": "fire",
    "an oil painting of an old man": "older man",
    "an old man": "older man",
    "a lithograph of waterfalls": "water wave",
    "a lithograph of a skull": "skull",
    "a skull": "skull",
    "a man wearing a hat": "face with cowboy hat",
    "a high quality photo": None,
}
#: Captions that stand for "no prompt" in classifier-free training (dropped captions become one of them).
NULL_CAPTIONS = ("", "a high quality photo")

TEMPLATES = ("{}", "{a} {}", "a photo of {a} {}", "an emoji of {a} {}", "a drawing of {a} {}")


def article(name: str) -> str:
    """'a' or 'an' for ``name``."""
    return "an" if name[:1] in "aeiou" else "a"


def captions_of(name: str, short_names: str) -> list[str]:
    """Every caption of one emoji: its name, its short names ('_' → ' '), the templates, the course
    prompts mapped to it; unique, in a fixed order."""
    out = [name] + [s.replace("_", " ") for s in short_names.split()]
    out += [t.format(name, a=article(name)) for t in TEMPLATES]
    out += [p for p, n in COURSE_PROMPTS.items() if n == name]
    return list(dict.fromkeys(out))


def select_subset(names, subcategories) -> np.ndarray:
    """Indices (into ``names``) of the curated concepts: every emoji of :data:`SUBCATEGORIES` and the
    :data:`EXTRA_NAMES` that exist, sorted."""
    names, subs = list(map(str, names)), list(map(str, subcategories))
    keep = {i for i, s in enumerate(subs) if s in SUBCATEGORIES}
    keep |= {names.index(n) for n in EXTRA_NAMES if n in names}
    keep |= {names.index(n) for n in COURSE_PROMPTS.values() if n is not None}
    return np.array(sorted(keep))


def write_subset(source: str | Path, out: str | Path = SUBSET_FILE) -> Path:
    """Copy the curated subset of an emoji npz (``../shared/data/emoji_32.npz``) to ``out``: the same
    arrays, pictures of other emoji dropped, ``labels`` renumbered to index the kept ``names``."""
    d = np.load(source)
    keep = select_subset(d["names"], d["subcategories"])
    new_label = -np.ones(len(d["names"]), dtype=np.int64)
    new_label[keep] = np.arange(len(keep))
    rows = np.where(new_label[d["labels"]] >= 0)[0]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, images=d["images"][rows], labels=new_label[d["labels"][rows]].astype(np.int16),
                        styles=d["styles"][rows], tones=d["tones"][rows], style_names=d["style_names"],
                        **{k: d[k][keep] for k in ("names", "short_names", "categories", "subcategories")})
    tmp.replace(out)
    return out


def load_subset(path: str | Path = SUBSET_FILE) -> dict:
    """The shipped subset as a dict of numpy arrays (see ``data/emoji/README.md``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: expected the emoji subset npz "
                                "(python -m fundiff.emoji.concepts [--size 64] writes it from "
                                "../shared/data/emoji_<size>.npz)")
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def main(argv=None) -> int:
    """``python -m fundiff.emoji.concepts [--size 32|64] [SOURCE]``: write the subset of that size
    from ``../shared/data/emoji_<size>.npz``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m fundiff.emoji.concepts", description=write_subset.__doc__)
    p.add_argument("source", nargs="?", default=None, help="default ../shared/data/emoji_<size>.npz")
    p.add_argument("--size", type=int, choices=sorted(SUBSET_FILES), default=32)
    a = p.parse_args(argv)
    source = Path(a.source or DATA_DIR.parents[1] / "shared" / "data" / f"emoji_{a.size}.npz")
    if not source.is_file():
        p.error(f"{source} does not exist: expected emoji_{a.size}.npz of ../shared/data")
    with np.load(source) as d:
        got = tuple(d["images"].shape[1:]) if "images" in d.files else None
    if got != (a.size, a.size, 3):
        p.error(f"{source}: expected images of shape (N, {a.size}, {a.size}, 3), got {got}")
    out = write_subset(source, SUBSET_FILES[a.size])
    d = load_subset(out)
    print(f"wrote {out}: {len(d['images'])} pictures of {len(d['names'])} emoji")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
