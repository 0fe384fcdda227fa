"""Part A test pictures for the emoji model: a photograph, a "web" picture, two hand-drawn sketches.

    python -m fundiff.emoji.images       # writes them into data/emoji/images/ (128×128 PNGs)

- ``photo_temple.png``: scikit-learn's sample photo ``china.jpg`` (a temple; by danielbuechele on
  Flickr, CC BY 2.0), centre-cropped and resized: the real photograph of SDEdit and inpainting.
- ``web_flower.png``: scikit-learn's ``flower.jpg`` (by vultilion on Flickr, CC BY 2.0): a close-up
  photo far from any emoji, the out-of-distribution "web" picture.
- ``sketch_apple.png``, ``sketch_sun.png``, ``sketch_house.png``: colour sketches drawn with wobbly
  strokes (:func:`wobbly_line`), as a student would with a mouse: the hand-drawn inputs of §1.7.
- ``mask_center.png``: a square mask (white = repaint) for inpainting.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from .concepts import EMOJI_DIR

IMAGES_DIR = EMOJI_DIR / "images"
SIZE = 128


def sklearn_photo(name: str):
    """A scikit-learn sample photo (``china.jpg`` or ``flower.jpg``) as a PIL image."""
    from PIL import Image
    import sklearn.datasets

    path = Path(sklearn.datasets.__file__).parent / "images" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the sample photos ship with scikit-learn")
    return Image.open(path).convert("RGB")


def square(image, size: int = SIZE, center=(0.5, 0.5)):
    """The largest square of ``image`` around ``center`` (fractions of width, height), resized."""
    from PIL import Image

    w, h = image.size
    s = min(w, h)
    left = int(min(max(center[0] * w - s / 2, 0), w - s))
    top = int(min(max(center[1] * h - s / 2, 0), h - s))
    return image.crop((left, top, left + s, top + s)).resize((size, size), Image.LANCZOS)


def wobbly_line(draw, points, color, width: int, rng: np.random.Generator, jitter: float = 1.5):
    """Draw a polyline through ``points`` with each vertex moved by N(0, jitter²) pixels (a hand's wobble)."""
    pts = [(x + rng.normal(0, jitter), y + rng.normal(0, jitter)) for x, y in points]
    draw.line(pts, fill=color, width=width, joint="curve")


def circle_points(cx, cy, r, n: int = 40, start: float = 0.0, end: float = 2 * math.pi):
    """n + 1 points on a circle arc from ``start`` to ``end`` (radians)."""
    return [(cx + r * math.cos(start + (end - start) * i / n), cy + r * math.sin(start + (end - start) * i / n))
            for i in range(n + 1)]


def sketch(kind: str, seed: int = 0):
    """A hand-drawn-looking colour sketch ("apple", "sun" or "house") on white, SIZE×SIZE."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (SIZE, SIZE), "white")
    d = ImageDraw.Draw(im)
    if kind == "apple":
        d.ellipse((30, 40, 100, 110), fill=(220, 30, 40))
        wobbly_line(d, circle_points(65, 75, 36), (120, 0, 10), 3, rng)
        wobbly_line(d, [(64, 42), (66, 30), (70, 20)], (100, 60, 20), 5, rng)
        d.polygon([(70, 30), (92, 18), (84, 34)], fill=(40, 160, 40))
    elif kind == "sun":
        d.ellipse((38, 38, 90, 90), fill=(255, 200, 0))
        for k in range(10):
            a = 2 * math.pi * k / 10
            wobbly_line(d, [(64 + 32 * math.cos(a), 64 + 32 * math.sin(a)),
                            (64 + 52 * math.cos(a), 64 + 52 * math.sin(a))], (255, 150, 0), 5, rng)
        wobbly_line(d, circle_points(64, 64, 26), (230, 120, 0), 3, rng)
    elif kind == "house":
        d.rectangle((32, 62, 96, 108), fill=(230, 190, 120))
        d.polygon([(24, 64), (64, 24), (104, 64)], fill=(200, 40, 30))
        d.rectangle((56, 82, 72, 108), fill=(120, 70, 30))
        wobbly_line(d, [(32, 62), (32, 108), (96, 108), (96, 62)], (60, 40, 20), 3, rng)
    else:
        raise ValueError(f"unknown sketch {kind!r}: expected 'apple', 'sun' or 'house'")
    return im


def center_mask(size: int = SIZE, frac: float = 0.4):
    """A square mask of side ``frac``·size in the centre: white (255) = repaint, black = keep."""
    from PIL import Image

    m = np.zeros((size, size), np.uint8)
    a, b = int(size * (0.5 - frac / 2)), int(size * (0.5 + frac / 2))
    m[a:b, a:b] = 255
    return Image.fromarray(m, "L")


def write_images(folder: Path = IMAGES_DIR) -> list[Path]:
    """Write every test picture of the module docstring into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pics = {"photo_temple.png": square(sklearn_photo("china.jpg"), center=(0.45, 0.5)),
            "web_flower.png": square(sklearn_photo("flower.jpg")),
            "sketch_apple.png": sketch("apple"), "sketch_sun.png": sketch("sun", 1),
            "sketch_house.png": sketch("house", 2), "mask_center.png": center_mask()}
    out = []
    for name, im in pics.items():
        tmp = folder / f".{name}.tmp"
        im.save(tmp, format="PNG")
        tmp.replace(folder / name)
        out.append(folder / name)
    return out


if __name__ == "__main__":
    for p in write_images():
        print(p)
    sys.exit(0)
