"""Part A's tricks on the bundled MNIST model as plain PNG grids: ``python -m fundiff.bundled examples``.

The figures of the note, without the page: CFG and unconditional samples, SDEdit at every i_start,
text-conditional SDEdit, inpainting, visual anagrams (flip and 180° rotation) and hybrids (seen
close and small), all with solutions' Part A loop (or ``impl``'s).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.images import IMAGES_DIR, load_image, load_mask
from ..impl import as_impl
from ..metrics import cfg_sample
from ..models.mnist import load_bundled
from ..pictures import gaussian_kernel_size, save_grid

__all__ = ["examples"]


def examples(out: Path, guidance_scale: float = 5.0, seed: int = 0, impl=None) -> list[Path]:
    """The Part A tricks on the bundled model, saved as PNG grids in ``out`` (for the note)."""
    impl = as_impl(impl)
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
        kernel = None if sigma is None else gaussian_kernel_size(sigma)
        est = gui.hybrid_estimator(cfg(a), cfg(b), kernel_size=kernel, sigma=sigma)
        x = den.sample(est, (8, 1, 28, 28), ts, abar, gen(600 + k)).clamp(-1, 1)
        small = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 4), size=28, mode="nearest")
        written.append(save_grid(torch.cat([x, small]), out / f"hybrid_low{a}_high{b}_sigma{sigma or 'default'}.png",
                                 nrow=8, value_range=rng, scale=3))
    return written
