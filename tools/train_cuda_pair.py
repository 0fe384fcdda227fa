"""Train the course's class-conditioned model (20 epochs, batch 128) on CUDA twice per seed: plain
float32 (TF32 off) and on the fast path (bf16 autocast), and store each final model in float16 as
the package ships its models.  Usage: python tools/train_cuda_pair.py OUT_DIR SEED [SEED ...]
Writes OUT_DIR/plain{SEED}.safetensors and OUT_DIR/fast{SEED}.safetensors (and the runs beside)."""
import sys
import time

import torch

from fundiff.checkpoint import load_checked, save_atomic
from fundiff.train import main

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
out, seeds = sys.argv[1], sys.argv[2:]
for seed in seeds:
    for name, flag in (("plain", "--no-fast"), ("fast", "--fast")):
        run = f"{out}/{name}{seed}"
        t0 = time.time()
        main(["class", "--device", "cuda", "--seed", seed, "--sample-epochs", "--out", run, flag])
        tensors, meta = load_checked(f"{run}/epoch_020.safetensors")
        save_atomic({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, f"{run}.safetensors", meta)
        print(f"{name}{seed} trained in {time.time() - t0:.1f} s", flush=True)
