"""The Part A test images: held-out digits, typeset digits ("web images"), hand-drawn digits, masks.

The course edits pictures with the pretrained model (SDEdit, inpainting, …).  For the bundled MNIST
model the package ships 28×28 greyscale PNGs (white digit on black, like MNIST) in
``data/images/``, all drawn here and rewritten by ``python -m fundiff.bundled images``
(:func:`write_images`)::

    heldout_<d>.png   the first held-out digit of each class (the "test images")
    typeset_<d>.png   the digit typeset with Pillow's font, laid out like MNIST ("web images")
    drawn_<d>.png     pen strokes (:data:`DRAWINGS`) drawn with a little jitter ("hand-drawn")
    mask_<where>.png  inpainting masks (:data:`MASKS`), white = regenerate

:func:`load_image` / :func:`load_mask` read them as tensors, :func:`test_image_paths` lists them by kind.
"""
from __future__ import annotations

from pathlib import Path

import torch

from . import DATA_DIR, load_digits

__all__ = ["IMAGES_DIR", "IMAGE_SIZE", "load_image", "load_mask", "save_image", "mnist_style", "typeset_digit",
           "DRAWINGS", "draw_digit", "rect_mask", "MASKS", "write_images", "test_image_paths"]

#: Where the Part A test images live.
IMAGES_DIR = DATA_DIR / "images"
IMAGE_SIZE = 28


def _read_png(path, what: str):
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found (the package's images are in {IMAGES_DIR}; "
                                "regenerate them with: python -m fundiff.bundled images)")
    try:
        with Image.open(path) as im:
            im.load()
            image = im.copy()
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not a readable image file ({err}): expected a 28×28 greyscale PNG") from err
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{what} {path} is {image.size[0]}×{image.size[1]} pixels, expected {IMAGE_SIZE}×"
                         f"{IMAGE_SIZE} (for any other picture use load_pretrained('bundled').load_image, "
                         "which crops and resizes)")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))  # transparent → black (background)
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return torch.from_numpy(__import__("numpy").asarray(image.convert("L"), dtype="float32").copy()) / 255.0


def load_image(path) -> torch.Tensor:
    """A 28×28 picture (white digit on black, like MNIST) as a (1, 1, 28, 28) float32 tensor in
    [-1, 1] (pixel p ∈ 0..255 → p/255·2 − 1).  Colour is converted to grey, transparency to black."""
    return (_read_png(path, "image") * 2 - 1)[None, None]


def load_mask(path) -> torch.Tensor:
    """A 28×28 inpainting mask as a (1, 1, 28, 28) float32 tensor of 0s and 1s: 1 (white pixels,
    > 50 % grey) where new content is generated, 0 where the original is kept."""
    return (_read_png(path, "mask") > 0.5).float()[None, None]


def save_image(x: torch.Tensor, path) -> Path:
    """Write one image (1, 28, 28) or (1, 1, 28, 28) with values in [-1, 1] as a greyscale PNG."""
    from PIL import Image

    x = torch.as_tensor(x).detach().cpu().float()
    if x.ndim < 2 or not x.numel():
        raise ValueError(f"save_image writes one greyscale image (1, 28, 28) or (1, 1, 28, 28), got shape {tuple(x.shape)}")
    x = x.reshape(-1, *x.shape[-2:])
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"save_image: the image holds NaN or inf values; expected finite values in [-1, 1] ({path})")
    if x.shape[0] != 1:
        raise ValueError(f"save_image writes one greyscale image, got shape {tuple(x.shape)}")
    u8 = ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(u8, mode="L").save(path)
    return path


def mnist_style(image) -> torch.Tensor:
    """A large greyscale PIL picture of a white digit on black → (1, 1, 28, 28) in [-1, 1] laid out
    like MNIST: the digit's bounding box scaled to fit 20×20 (aspect kept), then centred by its centre
    of mass in the 28×28 frame."""
    from PIL import Image

    box = image.getbbox()
    if box is None:
        raise ValueError("the picture is empty (no white pixels)")
    digit = image.crop(box)
    scale = 20 / max(digit.size)
    size = (max(1, round(digit.size[0] * scale)), max(1, round(digit.size[1] * scale)))
    digit = digit.resize(size, Image.LANCZOS)
    small = torch.from_numpy(__import__("numpy").asarray(digit, dtype="float32").copy()) / 255.0
    h, w = small.shape
    mass = small.sum().clamp_min(1e-6)
    cy = (small.sum(1) * torch.arange(h)).sum() / mass
    cx = (small.sum(0) * torch.arange(w)).sum() / mass
    top = int(round(IMAGE_SIZE / 2 - 0.5 - float(cy)))
    left = int(round(IMAGE_SIZE / 2 - 0.5 - float(cx)))
    top, left = min(max(top, 0), IMAGE_SIZE - h), min(max(left, 0), IMAGE_SIZE - w)
    out = torch.zeros(IMAGE_SIZE, IMAGE_SIZE)
    out[top:top + h, left:left + w] = small
    return (out.clamp(0, 1) * 2 - 1)[None, None]


def typeset_digit(digit: int, size: int = 160, stroke: float = 0.025):
    """The digit typeset with the font Pillow ships (``ImageFont.load_default(size)``), its strokes
    thickened by ``stroke``·size (MNIST's pen is bolder than a text font), MNIST-style."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), str(digit), fill=255, font=font,
                                     stroke_width=round(stroke * size), stroke_fill=255)
    return mnist_style(canvas)


#: Hand-drawn digits as pen strokes: polylines in a 100×100 box (x right, y down), one list per stroke.
DRAWINGS = {
    "2": [[(22, 30), (30, 18), (45, 11), (62, 12), (74, 22), (76, 36), (68, 52), (52, 66), (34, 80),
           (22, 90), (40, 89), (60, 88), (80, 89)]],
    "4": [[(58, 8), (44, 30), (30, 52), (18, 68), (40, 67), (62, 66), (82, 64)],
          [(64, 34), (63, 55), (62, 75), (61, 94)]],
    "7": [[(18, 14), (40, 13), (62, 12), (82, 13), (72, 32), (60, 52), (50, 72), (44, 92)]],
    "3": [[(24, 18), (40, 9), (60, 10), (72, 22), (66, 38), (48, 47), (66, 52), (76, 66), (70, 82),
           (52, 92), (32, 90), (20, 80)]],
}


def draw_digit(strokes, width: int = 11, jitter: float = 1.5, seed: int = 0, canvas: int = 200):
    """Pen strokes (polylines in a 100×100 box) drawn with Pillow's ImageDraw, a little jitter on every
    point (a fixed ``seed``) and round pen tips, then laid out MNIST-style: (1, 1, 28, 28) in [-1, 1]."""
    from PIL import Image, ImageDraw

    g = torch.Generator().manual_seed(seed)
    image = Image.new("L", (canvas, canvas), 0)
    pen = ImageDraw.Draw(image)
    k = canvas / 100 * 0.8
    off = canvas * 0.1
    w = round(width * k)
    for stroke in strokes:
        pts = [(off + k * x + jitter * k * float(torch.randn((), generator=g)),
                off + k * y + jitter * k * float(torch.randn((), generator=g))) for x, y in stroke]
        pen.line(pts, fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):
            pen.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return mnist_style(image)


def rect_mask(top: int, left: int, height: int, width: int) -> torch.Tensor:
    """(1, 1, 28, 28): 1 inside the rectangle (the region to regenerate), 0 elsewhere."""
    m = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    m[..., top:top + height, left:left + width] = 1
    return m


#: The inpainting masks the package ships: white = regenerate.
MASKS = {
    "top": (0, 0, 14, 28),
    "bottom": (14, 0, 14, 28),
    "left": (0, 0, 28, 14),
    "right": (0, 14, 28, 14),
    "center": (8, 8, 12, 12),
}


def write_images(folder: Path = IMAGES_DIR) -> list[Path]:
    """Write the Part A test images as 28×28 greyscale PNGs (white digit on black) into ``folder``:
    heldout_<d>.png (the first held-out digit of each class: the "test images"), typeset_<d>.png (the
    digit typeset with Pillow's font: "web images"), drawn_<d>.png (hand-drawn pen strokes) and
    mask_<where>.png (inpainting masks, white = regenerate)."""
    folder = Path(folder)
    x, y = load_digits("heldout")
    written = []
    for d in range(10):
        written.append(save_image(x[(y == d).nonzero()[0, 0]] * 2 - 1, folder / f"heldout_{d}.png"))
        written.append(save_image(typeset_digit(d), folder / f"typeset_{d}.png"))
    for i, (name, strokes) in enumerate(DRAWINGS.items()):
        written.append(save_image(draw_digit(strokes, seed=i), folder / f"drawn_{name}.png"))
    for name, rect in MASKS.items():
        written.append(save_image(rect_mask(*rect) * 2 - 1, folder / f"mask_{name}.png"))
    return written


def test_image_paths(folder: Path = IMAGES_DIR) -> dict[str, list[Path]]:
    """The shipped Part A images by kind: {"test": held-out digits, "web": typeset digits,
    "drawings": hand-drawn digits, "masks": inpainting masks}."""
    folder = Path(folder)
    return {kind: sorted(folder.glob(f"{prefix}_*.png"))
            for kind, prefix in (("test", "heldout"), ("web", "typeset"), ("drawings", "drawn"), ("masks", "mask"))}
