"""The bundled pretrained model: a small class-conditional diffusion model of MNIST digits.

Part A of the course needs a pretrained diffusion model.  DeepFloyd IF needs a GPU and the Hugging
Face hub; this one runs offline on a laptop CPU in seconds.  It is stored in diffusers format under
``data/bundled/``::

    unet/config.json + unet/diffusion_pytorch_model.safetensors    a UNet2DModel (ε-prediction)
    scheduler/scheduler_config.json                                 a DDPMScheduler (1000 steps)
    training.json                                                   seed, config, data, steps, loss

The model predicts ε from x_t ∈ [-1, 1]^(1×28×28), an integer timestep t ∈ {0..999} and a class
label c ∈ {0..10}; class 10 is the null prompt "" (trained with 10 % label dropout), so classifier-
free guidance works.  The schedule is IF's (``squaredcos_cap_v2``, 1000 steps), so the course's
timesteps 990, 960, …, 0 apply unchanged.

Commands::

    python -m fundiff.bundled train --out data/bundled [--minutes 30] [--resume]
    python -m fundiff.bundled images            # writes the Part A test images into data/images/
    python -m fundiff.bundled bench             # sampling speed, ours vs a diffusers scheduler loop
    python -m fundiff.bundled quality           # per-digit accuracy of CFG samples (fundiff.metrics)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import DATA_DIR, load_digits

#: Where the shipped model lives.
BUNDLED_DIR = DATA_DIR / "bundled"
#: Where the Part A test images live.
IMAGES_DIR = DATA_DIR / "images"

NUM_TRAIN_TIMESTEPS = 1000
NULL_CLASS = 10
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Every prompt the bundled model understands, mapped to its class label (10 = the null prompt "").
PROMPT_CLASSES = {**{str(d): d for d in range(10)}, **{w: d for d, w in enumerate(DIGIT_WORDS)}, "": NULL_CLASS}

#: The UNet2DModel configuration the shipped weights were trained with.
UNET_CONFIG = dict(
    sample_size=28,
    in_channels=1,
    out_channels=1,
    block_out_channels=(16, 32, 64),
    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
    layers_per_block=1,
    norm_num_groups=8,
    num_class_embeds=NULL_CLASS + 1,
    add_attention=False,
)
#: The DDPMScheduler configuration (IF's schedule; a model without learned variance).
SCHEDULER_CONFIG = dict(
    num_train_timesteps=NUM_TRAIN_TIMESTEPS,
    beta_schedule="squaredcos_cap_v2",
    variance_type="fixed_small",
    clip_sample=False,
    prediction_type="epsilon",
)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def build_unet(config: dict | None = None):
    """A fresh diffusers ``UNet2DModel`` with :data:`UNET_CONFIG` (updated by ``config``)."""
    from diffusers import UNet2DModel

    return UNet2DModel(**{**UNET_CONFIG, **(config or {})})


def build_scheduler():
    """The diffusers ``DDPMScheduler`` of the bundled model."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_CONFIG)


def training_alphas_cumprod() -> torch.Tensor:
    """ᾱ_t (1000,) float32 of the bundled model's schedule (squaredcos_cap_v2)."""
    return build_scheduler().alphas_cumprod.to(torch.float32)


def drop_labels(y: torch.Tensor, p_uncond: float, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by the null class with probability ``p_uncond`` (classifier-free training)."""
    drop = torch.rand(y.shape, generator=generator) < p_uncond
    return torch.where(drop, torch.full_like(y, NULL_CLASS), y)


def diffusion_loss(unet, x0: torch.Tensor, y: torch.Tensor, abar: torch.Tensor, generator: torch.Generator,
                   autocast: bool = True) -> torch.Tensor:
    """‖ε − ε_θ(√ᾱ_t·x₀ + √(1−ᾱ_t)·ε, t, y)‖² with t ~ U{0..T−1}; x0 (B,1,28,28) in [-1, 1]."""
    t = torch.randint(0, len(abar), (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    a = abar[t].view(-1, 1, 1, 1)
    x_t = (a.sqrt() * x0 + (1 - a).sqrt() * eps).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        pred = unet(x_t, t, class_labels=y).sample
    return F.mse_loss(pred.float(), eps)


def lr_at(progress: float, peak: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of training, then cosine decay to 5 % of peak."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.01)
    p = min((progress - warmup) / max(1 - warmup, 1e-8), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def ema_update(ema, model, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model, parameter by parameter."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - decay)


def save_pretrained_atomic(unet, folder: Path) -> None:
    """``unet.save_pretrained`` into a temporary folder, then rename it over ``folder``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    unet.save_pretrained(tmp, safe_serialization=True)
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700 folders; the shipped files must be readable by all
    for f in tmp.iterdir():
        os.chmod(f, 0o644)
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(obj, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def train(out: Path = BUNDLED_DIR, work: Path = Path("runs/bundled"), steps: int = 4000, minutes: float | None = None,
          batch_size: int = 64, lr: float = 2e-3, warmup: float = 0.03, ema_decay: float = 0.999,
          p_uncond: float = 0.1, seed: int = 0, autocast: bool = True, threads: int | None = None,
          resume: bool = False, save_every_s: float = 120.0, log_every: int = 25) -> dict:
    """Train the bundled model on ``load_digits("train")`` and write it to ``out`` in diffusers format.

    Training stops after ``steps`` steps or ``minutes`` of wall clock, whichever comes first; the
    LR schedule follows progress = max(step/steps, elapsed/minutes).  The EMA weights are shipped.
    A training state (model, EMA, optimizer, RNG, step, losses) is saved atomically to
    ``work/state.safetensors`` every ``save_every_s`` seconds; ``resume=True`` continues from it.
    """
    import copy

    from .checkpoint import load_state, save_state

    if threads:
        torch.set_num_threads(threads)
    out, work = Path(out), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.safetensors"
    torch.manual_seed(seed)  # parameter initialisation
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = load_digits("train")
    x_all = x_all * 2 - 1  # [0, 1] → [-1, 1]
    abar = training_alphas_cumprod()
    unet = build_unet().to(memory_format=torch.channels_last)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    step, elapsed, losses = 0, 0.0, []
    if resume and state_path.is_file():
        st = load_state(state_path)
        unet.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["rng"])
        step, elapsed, losses = st["step"], st["elapsed"], list(st["losses"])
        print(f"resumed from {state_path} at step {step} ({elapsed / 60:.1f} min)", flush=True)
    budget = minutes * 60 if minutes else None

    def progress() -> float:
        return max(step / steps, elapsed / budget if budget else 0.0)

    def save():
        save_state({"model": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "rng": gen.get_state(), "step": step, "elapsed": elapsed, "losses": losses}, state_path)

    n = len(x_all)
    perm, pos = torch.randperm(n, generator=gen), 0
    unet.train()
    t_start, last_save, window = time.time() - elapsed, time.time(), []
    while progress() < 1.0:
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        y = drop_labels(y_all[idx], p_uncond, gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(progress(), lr, warmup)
        loss = diffusion_loss(unet, x_all[idx], y, abar, gen, autocast)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        ema_update(ema, unet, min(ema_decay, (1 + step) / (10 + step)))
        window.append(loss.item())
        elapsed = time.time() - t_start
        if step % log_every == 0:
            losses.append(sum(window) / len(window))
            window = []
            print(f"step {step} loss {losses[-1]:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{elapsed / 60:.1f} min {step * batch_size / max(elapsed, 1e-9):.1f} img/s", flush=True)
        if time.time() - last_save > save_every_s:
            save()
            save_pretrained_atomic(ema, work / "unet")
            last_save = time.time()
    save()
    save_pretrained_atomic(ema, out / "unet")
    build_scheduler().save_pretrained(out / "scheduler")
    record = {
        "command": (f"python -m fundiff.bundled train --out {out} --work {work} --steps {steps}"
                    + (f" --minutes {minutes:g}" if minutes else "") + f" --batch-size {batch_size} --lr {lr:g}"
                    + f" --seed {seed}" + (f" --threads {threads}" if threads else "")
                    + ("" if autocast else " --no-autocast")),
        "seed": seed, "steps": step, "batch_size": batch_size, "epochs": step * batch_size / n,
        "wall_clock_s": round(elapsed, 1), "threads": torch.get_num_threads(),
        "optimizer": {"name": "AdamW", "lr": lr, "warmup_fraction": warmup, "schedule": "cosine to 5%",
                      "grad_clip": 1.0, "weight_decay": 0.0},
        "ema_decay": ema_decay, "p_uncond": p_uncond, "autocast": "bfloat16" if autocast else None,
        "data": {"source": "fundiff.data.load_digits('train')", "n": n, "value_range": [-1, 1],
                 "augmentation": None},
        "unet_config": UNET_CONFIG, "scheduler_config": SCHEDULER_CONFIG,
        "loss": {"final_mean_last_100_steps": None if not losses else round(sum(losses[-4:]) / len(losses[-4:]), 5),
                 "every_25_steps": [round(v, 5) for v in losses]},
        "requested": {"steps": steps, "minutes": minutes},
    }
    write_json_atomic(record, out / "training.json")
    print(f"wrote {out} after {step} steps, {elapsed / 60:.1f} min", flush=True)
    return record


# ----------------------------------------------------------------------------------------------
# The model behind the Part A interface
# ----------------------------------------------------------------------------------------------
def prompt_class(prompt: str) -> int:
    """The class label of a prompt: "0".."9" and "zero".."nine" → 0..9, "" → 10 (the null class).
    Any other text → ValueError listing the prompts this model understands."""
    from .models import check_prompt

    return PROMPT_CLASSES[check_prompt(prompt, list(PROMPT_CLASSES))]


def _model_class():
    from .models import PretrainedModel

    class BundledModel(PretrainedModel):
        """The bundled MNIST model behind the pretrained-model interface of :mod:`fundiff.models`:
        images 1×28×28 in [-1, 1]; prompts "0".."9", "zero".."nine" and "" (null); conditioning is
        the class label (an int); ``predict`` returns (ε̂, None): no learned variance, so the Part A
        loop uses the fixed posterior variance."""

        def __init__(self, unet, scheduler, device=None, dtype=torch.float32, name="bundled"):
            cfg = unet.config
            if cfg.num_class_embeds != NULL_CLASS + 1:
                raise ValueError(f"the bundled UNet must have num_class_embeds = {NULL_CLASS + 1} (digits + "
                                 f"null), got {cfg.num_class_embeds}")
            self.unet, self.scheduler = unet, scheduler
            super().__init__(name, scheduler.alphas_cumprod, (cfg.in_channels, cfg.sample_size, cfg.sample_size),
                             device=device, dtype=dtype, prompts=list(PROMPT_CLASSES))

        def _encode(self, prompt: str) -> int:
            return PROMPT_CLASSES[prompt]

        def _predict(self, x_t, t, cond):
            if isinstance(cond, torch.Tensor) and cond.ndim == 1:  # one class label per image
                if cond.shape[0] != x_t.shape[0] or cond.dtype != torch.long:
                    raise ValueError(f"per-image conditioning must be a (B,) = ({x_t.shape[0]},) int64 tensor of "
                                     f"class labels, got {cond.dtype} {tuple(cond.shape)}")
                labels = cond.to(x_t.device)
            else:
                labels = torch.full((x_t.shape[0],), int(cond), dtype=torch.long, device=x_t.device)
            eps = self.unet(x_t.contiguous(memory_format=torch.channels_last), t, class_labels=labels,
                            return_dict=False)[0]
            return eps.contiguous(), None

        def load_image(self, image) -> torch.Tensor:
            """A picture (path or PIL image) as (1, 1, 28, 28) in [-1, 1]: the package's 28×28 PNGs are
            read as they are (:func:`fundiff.bundled.load_image`), any other picture is center-cropped,
            resized and made grey (dark background expected, as in MNIST)."""
            if not hasattr(image, "size") and Path(image).is_file():
                try:
                    return load_image(image)
                except ValueError:
                    pass
            return super().load_image(image)

    return BundledModel


def load_bundled(device=None, path: str | Path = BUNDLED_DIR, dtype: torch.dtype = torch.float32):
    """The bundled MNIST model from ``path`` (``unet/`` + ``scheduler/`` in diffusers format, loaded
    with ``from_pretrained`` like DeepFloyd IF), behind the interface of :mod:`fundiff.models`.
    device: None → CUDA when available, else the CPU."""
    from diffusers import DDPMScheduler, UNet2DModel

    from .models import default_device

    path = Path(path)
    for part in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"):
        if not (path / part).is_file():
            raise FileNotFoundError(
                f"the bundled model is incomplete: {path / part} is missing (expected {path}/unet/config.json, "
                f"unet/diffusion_pytorch_model.safetensors and scheduler/scheduler_config.json; train it "
                f"with: python -m fundiff.bundled train --out {path})")
    device = default_device(device)
    unet = UNet2DModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, use_safetensors=True)
    unet = unet.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
    return _model_class()(unet, scheduler, device=device, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# Test images: held-out digits, typeset digits ("web images"), hand-drawn digits, inpainting masks
# ----------------------------------------------------------------------------------------------
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

    x = torch.as_tensor(x).detach().cpu().float().reshape(-1, *x.shape[-2:])
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


# ----------------------------------------------------------------------------------------------
# Quality, examples and speed (with the Part A loop of solutions/)
# ----------------------------------------------------------------------------------------------
def _impl(impl=None):
    from .impl import load_impl

    return load_impl("solutions") if impl is None else (load_impl(impl) if isinstance(impl, (str, Path)) else impl)


def cfg_sample(model, prompt: str, n: int, guidance_scale: float, generator: torch.Generator,
               timesteps=None, impl=None) -> torch.Tensor:
    """n samples of ``prompt`` with the Part A loop (``denoise.sample``) and classifier-free guidance
    (``guidance.cfg_estimator`` against the null prompt); timesteps default 990, 960, …, 0.
    Returns (n, 1, 28, 28) in [-1, 1] (clamped)."""
    impl = _impl(impl)
    timesteps = impl.denoise.strided_timesteps() if timesteps is None else timesteps
    est = impl.guidance.cfg_estimator(model.estimator(prompt), model.estimator(model.null_prompt), guidance_scale)
    x = impl.denoise.sample(est, (n, *model.image_shape), timesteps, model.alphas_cumprod, generator,
                            device=model.device)
    return x.float().cpu().clamp(-1, 1)


def quality(model=None, guidance_scales=(1.0, 2.0, 3.0, 5.0, 7.0), n_per_digit: int = 50, seed: int = 0,
            impl=None) -> dict:
    """Per-digit share of CFG samples that ``fundiff.metrics.classify`` reads as the asked digit, for
    each γ: {γ: {"per_digit": {d: share}, "mean": …, "min": …}}.  All samples come from one generator
    seeded with ``seed`` (the same noise for every γ)."""
    from .metrics import per_digit_accuracy

    impl = _impl(impl)
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


def diffusers_cfg_sample(unet, scheduler_config, label: int, n: int, guidance_scale: float,
                         generator: torch.Generator, timesteps) -> torch.Tensor:
    """The same sampling with diffusers' own ``DDPMScheduler.step`` loop (cond + null in one batch of
    2n): the oracle and the speed baseline for ours.  Noise is drawn from the same CPU generator in
    the same order as the Part A loop, so both give the same digits."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(scheduler_config)
    sched.set_timesteps(timesteps=list(timesteps))
    x = torch.randn((n, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size), generator=generator)
    labels = torch.cat([torch.full((n,), label), torch.full((n,), NULL_CLASS)])
    with torch.no_grad():
        for t in sched.timesteps:
            out = unet(torch.cat([x, x]).contiguous(memory_format=torch.channels_last), t, class_labels=labels).sample
            eps_c, eps_u = out.chunk(2)
            eps = eps_u + guidance_scale * (eps_c - eps_u)
            x = sched.step(eps, t, x, generator=generator).prev_sample
    return x


def bench(n: int = 64, guidance_scale: float = 5.0, repeats: int = 3, threads: int = 2, impl=None) -> dict:
    """Seconds to sample ``n`` digits with the 34 course timesteps and CFG: ours (the Part A loop of
    solutions/ on the bundled model's interface) vs a diffusers DDPMScheduler loop on the same UNet.
    Best of ``repeats``, alternating; also prints the largest difference between the two results."""
    torch.set_num_threads(threads)
    impl = _impl(impl)
    model = load_bundled("cpu")
    ts = impl.denoise.strided_timesteps()
    times = {"ours": [], "diffusers": []}
    outs = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs["ours"] = cfg_sample(model, "3", n, guidance_scale, torch.Generator().manual_seed(0), ts, impl)
        times["ours"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        outs["diffusers"] = diffusers_cfg_sample(model.unet, model.scheduler.config, 3, n, guidance_scale,
                                                 torch.Generator().manual_seed(0), ts).clamp(-1, 1)
        times["diffusers"].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    diff = float((outs["ours"] - outs["diffusers"]).abs().max())
    print(f"sampling {n} digits, {len(ts)} steps, CFG γ={guidance_scale}, {threads} threads, best of {repeats}:")
    print(f"  ours (solutions/ Part A loop): {best['ours']:.2f} s")
    print(f"  diffusers DDPMScheduler loop:  {best['diffusers']:.2f} s")
    print(f"  ratio ours/diffusers: {best['ours'] / best['diffusers']:.2f}; max |ours − diffusers| = {diff:.2e}")
    return {"seconds": best, "all": times, "max_abs_diff": diff, "n": n, "steps": len(ts), "threads": threads}


def examples(out: Path, guidance_scale: float = 5.0, seed: int = 0, impl=None) -> list[Path]:
    """The Part A tricks on the bundled model, saved as PNG grids in ``out`` (for the note)."""
    from .pictures import save_grid

    impl = _impl(impl)
    den, gui = impl.denoise, impl.guidance
    model = load_bundled("cpu")
    abar, ts = model.alphas_cumprod, den.strided_timesteps()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = lambda p: gui.cfg_estimator(model.estimator(p), model.estimator(""), guidance_scale)  # noqa: E731
    gen = lambda k: torch.Generator().manual_seed(seed * 1000 + k)  # noqa: E731
    rng = (-1.0, 1.0)
    written = []
    # samples: every digit, 8 each; unconditional samples
    xs = torch.cat([cfg_sample(model, str(d), 8, guidance_scale, gen(d), ts, impl) for d in range(10)])
    written.append(save_grid(xs, out / "samples_cfg.png", nrow=8, value_range=rng, scale=3))
    xu = den.sample(model.estimator(""), (32, 1, 28, 28), ts, abar, gen(100))
    written.append(save_grid(xu.clamp(-1, 1), out / "samples_unconditional.png", nrow=8, value_range=rng, scale=3))
    # SDEdit at every i_start on a held-out digit, a typeset digit and two drawings (unconditional prompt)
    imgs = [load_image(IMAGES_DIR / f) for f in ("heldout_7.png", "typeset_3.png", "drawn_2.png", "drawn_4.png")]
    rows = []
    for k, x0 in enumerate(imgs):
        row = [x0]
        for i_start in (1, 3, 5, 7, 10, 20):
            row.append(gui.sdedit(x0, cfg(""), ts, i_start, abar, gen(200 + k)).clamp(-1, 1))
        rows.append(torch.cat(row))
    written.append(save_grid(torch.cat(rows), out / "sdedit_istart_1_3_5_7_10_20.png", nrow=7, value_range=rng, scale=3))
    # text-conditional SDEdit: the drawn 7 towards "1" and the typeset 3 towards "8"
    rows = []
    for k, (x0, p) in enumerate(((imgs[0], "1"), (imgs[1], "8"))):
        row = [x0] + [gui.sdedit(x0, cfg(p), ts, i, abar, gen(300 + k)).clamp(-1, 1) for i in (1, 3, 5, 7, 10, 20)]
        rows.append(torch.cat(row))
    written.append(save_grid(torch.cat(rows), out / "sdedit_text_7to1_3to8.png", nrow=7, value_range=rng, scale=3))
    # inpainting: original, mask, 4 results each
    rows = []
    for k, (f, m, p) in enumerate((("heldout_7.png", "bottom", ""), ("heldout_9.png", "top", "4"),
                                   ("heldout_0.png", "center", ""))):
        x0, mask = load_image(IMAGES_DIR / f), load_mask(IMAGES_DIR / f"mask_{m}.png")
        res = gui.inpaint(x0.expand(4, -1, -1, -1), mask, cfg(p), ts, abar, gen(400 + k)).clamp(-1, 1)
        rows.append(torch.cat([x0, mask * 2 - 1, x0 * (1 - mask) - mask, res]))
    written.append(save_grid(torch.cat(rows), out / "inpaint.png", nrow=7, value_range=rng, scale=3))
    # visual anagrams: the sample as it is, then seen through the view
    views = {"flip": (gui.flip_upside_down, None), "rot180": (gui.rotate180, None)}
    for k, (a, b, view_name) in enumerate((("6", "9", "rot180"), ("6", "9", "flip"), ("3", "8", "flip"),
                                           ("1", "7", "flip"), ("0", "8", "flip"))):
        view, inverse = views[view_name]
        est = gui.anagram_estimator(cfg(a), cfg(b), view=view, inverse=inverse)
        x = den.sample(est, (8, 1, 28, 28), ts, abar, gen(500 + k)).clamp(-1, 1)
        written.append(save_grid(torch.cat([x, view(x)]), out / f"anagram_{a}_{b}_{view_name}.png", nrow=8,
                                 value_range=rng, scale=3))
    # hybrids: low frequencies of a, high frequencies of b; row 2 = the same seen small (4× smaller)
    for k, (a, b, sigma) in enumerate((("1", "7", None), ("1", "7", 2.0), ("0", "8", 2.0), ("7", "1", 2.0))):
        kernel = None if sigma is None else 2 * round(3 * sigma) + 1
        est = gui.hybrid_estimator(cfg(a), cfg(b), kernel_size=kernel, sigma=sigma)
        x = den.sample(est, (8, 1, 28, 28), ts, abar, gen(600 + k)).clamp(-1, 1)
        small = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 4), size=28, mode="nearest")
        written.append(save_grid(torch.cat([x, small]), out / f"hybrid_low{a}_high{b}_sigma{sigma or 'default'}.png",
                                 nrow=8, value_range=rng, scale=3))
    return written


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fundiff.bundled", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train", help="train the bundled model")
    p.add_argument("--out", type=Path, default=BUNDLED_DIR)
    p.add_argument("--work", type=Path, default=Path("runs/bundled"))
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-autocast", action="store_true")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("images", help="write the Part A test images into data/images/")
    p.add_argument("--out", type=Path, default=IMAGES_DIR)
    p = sub.add_parser("quality", help="per-digit accuracy of CFG samples (fundiff.metrics)")
    p.add_argument("--gammas", type=float, nargs="+", default=[1.0, 2.0, 3.0, 5.0, 7.0])
    p.add_argument("--n", type=int, default=50, help="samples per digit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--path", type=Path, default=BUNDLED_DIR)
    p.add_argument("--fast", action="store_true", help="sample on the fast path (fundiff.fast: bf16, traced)")
    p = sub.add_parser("bench", help="sampling speed: ours vs a diffusers DDPMScheduler loop")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--gamma", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("examples", help="Part A tricks on the bundled model as PNG grids")
    p.add_argument("--out", type=Path, default=Path("runs/bundled_examples"))
    p.add_argument("--gamma", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.cmd == "train":
        train(args.out, args.work, args.steps, args.minutes, args.batch_size, args.lr, seed=args.seed,
              autocast=not args.no_autocast, threads=args.threads, resume=args.resume)
    elif args.cmd == "quality":
        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_bundled("cpu", args.path)
        if args.fast:
            from .fast import fast_model

            model = fast_model(model)
        quality(model, args.gammas, args.n, args.seed)
    elif args.cmd == "bench":
        bench(args.n, args.gamma, args.repeats, args.threads)
    elif args.cmd == "examples":
        for path in examples(args.out, args.gamma, args.seed):
            print(path)
    elif args.cmd == "images":
        for path in write_images(args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
