"""What Part A runs on: the plan of each model, the test images, the timesteps and the estimators.

:data:`PLANS` says what each pretrained model shows (prompts, samples per prompt, SDEdit starts);
:func:`resolve_plan` maps its prompts onto the ones a model knows.  The rest are the small helpers
the sections share: :func:`test_images` (the pictures in the model's shape and value range),
:func:`timesteps_of` (the course's strided timesteps), :func:`est_of` (a prompt's estimator, with
the student's classifier-free guidance when asked).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ...data import images as shipped
from ...data import load_digits
from ...negative_prompt import negative_cfg_estimator

if TYPE_CHECKING:  # context.py imports this module
    from ..context import Ctx

# ---------------------------------------------------------------------------------------------
# What each model shows (prompts, sizes)
# ---------------------------------------------------------------------------------------------

PLANS = {
    "bundled": {
        "a0_prompts": ["3", "7", "9"], "a0_steps": (10, 40), "a0_per_prompt": 4, "a0_guidance": 7.0,
        "generic": "",  # the course's "a high quality photo": here the unconditional prompt
        "generic_label": "'' (the null prompt: unconditional)",
        "cfg_prompts": ["2", "5"],
        "img2img_prompt": "3",
        "anagrams": [("6", "9"), ("0", "8"), ("1", "7"), ("2", "5")],
        "hybrids": [("0", "1"), ("8", "3"), ("1", "7")],
        "sdedit_istarts": (1, 3, 5, 7, 10, 20),
    },
    "emoji": {
        "a0_prompts": ["an oil painting of a snowy mountain village", "a man wearing a hat", "a rocket ship"],
        "a0_steps": (20, 40), "a0_per_prompt": 4, "a0_per_prompt_default": 2, "a0_guidance": 7.0,
        "generic": "a high quality photo", "generic_label": "'a high quality photo' (trained as a null caption)",
        "cfg_prompts": ["a high quality photo", "a photo of a dog", "a lithograph of a skull"],
        "img2img_prompt": "a rocket ship",
        # (upright, through the view[, view[, γ₁, γ₂[, β₁, β₂]]]) of fundiff.emoji.quality.ANAGRAM_PAIRS: the
        # three pairs that read both ways to the classifier over the concepts with both controls at 0 % (--quick
        # shows the first two): a pepperoni pizza whose flip is a flame (its own CFG scales, the fire guided away
        # from the pizza), a pear whose 180° turn is a light bulb, a balloon whose flip is a red fruit on its
        # stalk; then the course's pair (reads as the old man)
        "anagrams": [("slice of pizza", "fire", "flip", 6.0, 10.0, 0.0, 3.0), ("pear", "electric light bulb", "rot180"),
                     ("balloon", "red apple"),
                     ("an oil painting of an old man", "an oil painting of people around a campfire")],
        # (far, near, γ far, γ near, σ) of fundiff.emoji.quality.HYBRID_PAIRS: the three tuned pairs that read both
        # ways to the judges (the near one by the near reader) and to the eye: a ghost whose blur is a snowman, a
        # skull whose blur is a palm tree, a crown of flames whose blur is a fire; then the course's pair with the
        # course's settings
        "hybrids": [("snowman", "ghost", 5.0, 12.0, 2.5), ("palm tree", "skull", 3.0, 12.0, 2.0),
                    ("fire", "crown", 3.0, 12.0, 1.5), ("a lithograph of a skull", "a lithograph of waterfalls")],
        "sdedit_istarts": (1, 3, 5, 7, 10, 20),
    },
    "deepfloyd": {
        "a0_prompts": ["an oil painting of a snowy mountain village", "a man wearing a hat", "a rocket ship"],
        "a0_steps": (20, 40), "a0_per_prompt": 1, "a0_guidance": 7.0,
        "generic": "a high quality photo", "generic_label": "'a high quality photo'",
        "cfg_prompts": ["a high quality photo"],
        "img2img_prompt": "a rocket ship",
        "anagrams": [("an oil painting of people around a campfire", "an oil painting of an old man"),
                     ("a lithograph of waterfalls", "a lithograph of a skull"),
                     ("a photo of a dog", "a photo of a man")],
        "hybrids": [("a lithograph of a skull", "a lithograph of waterfalls"),
                    ("a photo of a dog", "a photo of a man"),
                    ("a rocket ship", "a pencil")],
        "sdedit_istarts": (1, 3, 5, 7, 10, 20),
    },
}


def resolve_plan(plan: dict, known: list | None, null: str = "") -> dict:
    """``plan`` with every prompt the model does not know (``known``: its prompts, None = any text)
    replaced by one it knows (the non-null ones in turn), so the demo runs with any embedding file."""
    if known is None:
        return dict(plan)
    spare = [p for p in known if p != null] or [null]
    used = [0]

    def fix(p):
        if p in known:
            return p
        used[0] += 1
        return spare[(used[0] - 1) % len(spare)]

    out = dict(plan)
    for key in ("a0_prompts", "cfg_prompts"):
        out[key] = [fix(p) for p in plan[key]]
    for key in ("anagrams", "hybrids"):
        out[key] = [(fix(a), fix(b), *rest) for a, b, *rest in plan[key]]
    out["img2img_prompt"] = fix(plan["img2img_prompt"])
    if plan["generic"] not in known:
        out["generic"] = fix(plan["generic"])
        out["generic_label"] = repr(out["generic"])
    return out


# ---------------------------------------------------------------------------------------------
# The pictures, timesteps and estimators the sections share
# ---------------------------------------------------------------------------------------------

def to_model_images(ctx: Ctx, x01: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] → the model's shape and value range."""
    model = ctx.model
    c, h, w = model.image_shape
    if tuple(x01.shape[-2:]) != (h, w):
        x01 = F.interpolate(x01, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    if x01.shape[1] != c:  # grey ↔ colour
        x01 = x01.mean(1, keepdim=True).expand(-1, c, -1, -1)
    lo, hi = model.value_range
    return (x01.clamp(0, 1) * (hi - lo) + lo).contiguous()


TEST_DIGITS = (7, 4, 2)  # the test image (a 7; the course has one photograph) and two more
DRAWN_DIGITS = ("2", "4", "7", "3")


def test_images(ctx: Ctx) -> dict[str, list[tuple[str, torch.Tensor]]]:
    """The Part A pictures in the model's shape and range, each (label, (1, C, H, W)):
    {'test': the test image and 2 more, 'web': typeset digits, 'drawn': hand-drawn digits,
    'masks': inpainting masks (1, 1, H, W) of 0/1}.  ``--image PATH`` pictures replace the test
    images; the others are the ones the package ships in data/images/ (:mod:`fundiff.data.images`;
    held-out digits if absent)."""
    if "images" in ctx._cache:
        return ctx._cache["images"]
    model = ctx.model
    if model.name == "emoji":
        ctx._cache["images"] = emoji_images(ctx)
        return ctx._cache["images"]
    images: dict[str, list] = {"test": [], "web": [], "drawn": [], "masks": []}
    for p in ctx.args.image or []:
        images["test"].append((Path(p).name, model.load_image(p)))
    try:
        paths = shipped.test_image_paths()
    except OSError:
        paths = {}
    by_name = {p.stem: p for kind in paths.values() for p in kind}

    def load(stem, label):
        path = by_name.get(stem)
        return None if path is None else (label, model.load_image(path))

    if not images["test"]:
        images["test"] = [x for d in TEST_DIGITS if (x := load(f"heldout_{d}", f"held-out {d}"))]
    images["web"] = [x for d in (5, 3) if (x := load(f"typeset_{d}", f"typeset {d} (web)"))]
    images["drawn"] = [x for d in DRAWN_DIGITS if (x := load(f"drawn_{d}", f"hand-drawn {d}"))]
    for where in ("center", "top", "right"):
        if f"mask_{where}" in by_name:
            m = shipped.load_mask(by_name[f"mask_{where}"])
            if tuple(m.shape[-2:]) != tuple(model.image_shape[-2:]):
                m = (F.interpolate(m, size=model.image_shape[-2:], mode="nearest") > 0.5).float()
            images["masks"].append((where, m))
    if not images["test"]:  # no shipped pictures: held-out digits
        x, y = load_digits("heldout")
        picks = [int((y == d).nonzero()[0]) for d in TEST_DIGITS]
        images["test"] = [(f"held-out {int(y[i])}", to_model_images(ctx, x[i:i + 1])) for i in picks]
    if not images["masks"]:
        images["masks"] = [(name, m[None]) for name, m in inpaint_masks(model.image_shape)]
    ctx._cache["images"] = images
    return images


def emoji_images(ctx: Ctx) -> dict[str, list[tuple[str, torch.Tensor]]]:
    """The emoji model's Part A pictures (:mod:`fundiff.emoji.images`): 'test' the photograph (or
    ``--image`` pictures), 'web' the flower photo, 'drawn' three colour sketches, 'masks' the centre
    square and the generated top / right masks."""
    from ...emoji.images import IMAGES_DIR

    model = ctx.model
    test = [(Path(p).name, model.load_image(p)) for p in ctx.args.image or []]
    test = test or [("photograph (temple)", model.load_image(IMAGES_DIR / "photo_temple.png"))]
    extra = [("photograph (temple, left)", model.load_image(IMAGES_DIR / "photo_temple.png").flip(-1))]
    drawn = [(f"hand-drawn {k}", model.load_image(IMAGES_DIR / f"sketch_{k}.png")) for k in ("apple", "sun", "house")]
    masks = [(name, m[None]) for name, m in inpaint_masks(model.image_shape)]
    return {"test": test + extra + drawn[:1], "web": [("web photo (flower)", model.load_image(IMAGES_DIR / "web_flower.png"))],
            "drawn": drawn, "masks": masks}


def timesteps_of(ctx: Ctx) -> list:
    """The course's strided timesteps [990, 960, …, 30, 0] from the implementation."""
    T = ctx.model.num_train_timesteps if hasattr(ctx.model, "num_train_timesteps") else len(ctx.model.alphas_cumprod)
    start = (T - 1) // 30 * 30 if T != 1000 else 990
    return list(ctx.f("denoise.strided_timesteps")(start, 30))


def est_of(ctx: Ctx, prompt: str, guidance: float | None = None, negative: str | None = None, beta: float = 0.0):
    """The model's estimator for ``prompt``, with the implementation's CFG at ``guidance`` if given; with
    ``beta`` > 0 also guided away from the prompt ``negative`` (fundiff.negative_prompt: the package's,
    not the course's)."""
    model = ctx.model
    if guidance is None:
        return model.estimator(prompt)
    if beta:
        return negative_cfg_estimator(model.estimator(prompt), model.estimator(model.null_prompt),
                                      model.estimator(negative), guidance, beta)
    return ctx.f("guidance.cfg_estimator")(model.estimator(prompt), model.estimator(model.null_prompt), guidance)


def fmt_prompt(p: str) -> str:
    """A prompt as the page shows it (quoted: the null prompt reads '')."""
    return repr(p)


def rows_of(images: list) -> torch.Tensor:
    """[(label, (1, C, H, W)), …] → one batch (B, C, H, W)."""
    return torch.cat([im for _, im in images])


def inpaint_masks(shape) -> list:
    """Three masks (1 where new content goes) for (C, H, W) images: a central square, the top half,
    the right third."""
    _, h, w = shape
    m1 = torch.zeros(1, h, w)
    m1[:, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1
    m2 = torch.zeros(1, h, w)
    m2[:, : h // 2] = 1
    m3 = torch.zeros(1, h, w)
    m3[:, :, 2 * w // 3:] = 1
    return [("centre", m1), ("top", m2), ("right", m3)]
