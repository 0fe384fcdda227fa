"""The trimmed emoji quality run quoted in the closing note (issue 12): python tools/emoji_quality_quick.py a|b
a: CFG samples of the 40 demo prompts (5 each) and SDEdit of the photo; b: 4 anagram and 3 hybrid pairs (10 each).
Writes runs/q_a.json / runs/q_b.json and PNG grids in runs/. The full run is tools/emoji_quality.sh."""
import sys, json, torch
from fundiff.models import load_pretrained
from fundiff.emoji import quality as q
from fundiff.emoji.images import IMAGES_DIR
from torchvision.utils import save_image
torch.set_num_threads(1)
m = load_pretrained("emoji", device="cpu")
out = {}
if sys.argv[1] == "a":
    r = q.samples_accuracy(m, n=5); out["samples"] = r; print(json.dumps(r), flush=True)
    r, x = q.sdedit_reading(m, m.load_image(IMAGES_DIR / "photo_temple.png"), n=4); out["sdedit"] = r; print(r, flush=True)
    save_image(x.flatten(0, 1), "runs/q_sdedit.png", nrow=4, normalize=True, value_range=(-1, 1), padding=1)
    xs = [q.run(m, q.cfg(m, p, q.as_impl(None), 7.0), 5, k, q.as_impl(None)) for k, p in enumerate(q.DEMO_PROMPTS[:10])]
    save_image(torch.cat(xs), "runs/q_samples.png", nrow=5, normalize=True, value_range=(-1, 1), padding=1)
else:
    xs = []
    out["anagrams"] = []
    for pair in q.ANAGRAM_PAIRS[:4]:
        r, x = q.anagram_reading(m, *pair, n=10); out["anagrams"].append(r); xs.append(x); print(r, flush=True)
    out["hybrids"] = []
    for pair in q.HYBRID_PAIRS[:3]:
        r, x = q.hybrid_reading(m, *pair, n=10); out["hybrids"].append(r); xs.append(x); print(r, flush=True)
    save_image(torch.cat(xs), "runs/q_tricks.png", nrow=10, normalize=True, value_range=(-1, 1), padding=1)
json.dump(out, open(f"runs/q_{sys.argv[1]}.json", "w"), indent=1)
