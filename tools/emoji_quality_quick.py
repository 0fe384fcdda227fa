"""The emoji quality run quoted in the closing note (issue 12), in two halves for two cores:

    python tools/emoji_quality_quick.py a [MODEL_DIR]   # CFG samples of the 40 demo prompts (5 each), SDEdit of the photo (4 each)
    python tools/emoji_quality_quick.py b [MODEL_DIR]   # the anagram pairs of ANAGRAM_PAIRS[:10] and the tuned hybrids of HYBRID_PAIRS (their own settings), 20 each
    (b1 / b2: the anagrams / the hybrids only, to run the halves of b at once; PAIRS=LO:HI: the anagram pairs
    ANAGRAM_PAIRS[LO:HI] only, e.g. PAIRS=0:4 and PAIRS=4:10 in two processes.  The anagram grid shows
    each pair's samples as they are, then through the view)

Each half runs on one torch thread; writes runs/q_HALF.json and PNG grids in runs/
(q_samples.png, q_sdedit.png; q_tricks.png, q_tricks1.png or q_tricks2.png).  The full run (10 / 20 per prompt) is tools/emoji_quality.sh."""
import json
import os
import sys

import torch
from torchvision.utils import save_image

from fundiff.emoji import quality as q
from fundiff.emoji.images import IMAGES_DIR
from fundiff.models import load_pretrained

torch.set_num_threads(1)
half = sys.argv[1]
part = os.environ.get("PAIRS", "").replace(":", "-")  # in the output names: runs/q_b10-4.json, runs/q_tricks10-4.png
m = load_pretrained("emoji", device="cpu", **({"path": sys.argv[2]} if len(sys.argv) > 2 else {}))
impl = q.as_impl(None)  # solutions/
out = {}
if half == "a":
    r = q.samples_accuracy(m, n=5); out["samples"] = r; print(json.dumps(r), flush=True)
    r, x = q.sdedit_reading(m, m.load_image(IMAGES_DIR / "photo_temple.png"), n=4); out["sdedit"] = r; print(r, flush=True)
    save_image(x.flatten(0, 1), "runs/q_sdedit.png", nrow=4, normalize=True, value_range=(-1, 1), padding=1)
    xs = [q.run(m, q.cfg(m, p, impl, 7.0), 5, k, impl) for k, p in enumerate(q.DEMO_PROMPTS[:10])]
    save_image(torch.cat(xs), "runs/q_samples.png", nrow=5, normalize=True, value_range=(-1, 1), padding=1)
elif half in ("b", "b1", "b2"):  # b1: the anagrams only, b2: the hybrids only (two cores: both at once)
    xs, out["anagrams"], out["hybrids"] = [], [], []
    lo, hi = map(int, os.environ.get("PAIRS", "0:10").split(":"))  # PAIRS=0:4 / 4:10: the pairs in two processes
    for pair in q.ANAGRAM_PAIRS[lo:hi] if half != "b2" else ():
        r, x = q.anagram_reading(m, *pair[:3], n=20, **q.anagram_settings(pair)); out["anagrams"].append(r); print(r, flush=True)
        xs += [x[:10], q.view_of(impl, pair[2])[0](x[:10])]  # as it is, then through the view
    for pair in [h for h in q.HYBRID_PAIRS if h[2] is not None] if half != "b1" else ():  # the tuned ones
        r, x = q.hybrid_reading(m, *pair[:2], n=20, **q.hybrid_settings(pair)); out["hybrids"].append(r); xs.append(x[:10]); print(r, flush=True)
    save_image(torch.cat(xs), f"runs/q_tricks{half[1:]}{part}.png", nrow=10, normalize=True, value_range=(-1, 1), padding=1)
else:
    sys.exit("usage: python tools/emoji_quality_quick.py a|b|b1|b2 [MODEL_DIR]")
json.dump(out, open(f"runs/q_{half}{part}.json", "w"), indent=1)
