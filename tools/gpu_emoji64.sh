#!/bin/bash
# Issue 12's GPU step, prepared to run once on a lent GPU (run from the repo root):
#   1. train the emoji model at IF stage 1's size (python -m fundiff.emoji.train --size 64: the
#      64-px pictures of data/emoji/emoji_64_subset.npz, UNET_CONFIG_64) on CUDA for MINUTES of wall
#      clock, with the shipped model's recipe (P2, focus on the demo's concepts, the fine-tune's ten
#      anagram shapes drawn more often);
#   2. read its CFG samples of the demo's 40 prompts with the emoji classifier (at 32 px), as the
#      shipped model's 98.0 % was read (python -m fundiff.emoji.quality samples, 5 each);
#   3. the whole test suite on this machine (the CUDA tests included), unless SUITE=0.
# Brings back under $OUT (default ./gpu-out; at most 8 files of 16 MiB): the model folder
# emoji64/ (unet/ with its weights in float16, 12.9 MB, which load_pretrained("emoji", path=…)
# reads back to float32; scheduler/; training.json), the samples' figures and grid, and log.txt.
# Then here: cp data/emoji/prompt_embeds.safetensors OUT/emoji64/ and compare it with the shipped
# model (python -m fundiff.emoji.quality … --path OUT/emoji64).
# The lent machine has no diffusers: carry its wheels (gpu_env.sh installs them), fetched here with
#   echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: \
#     --python-version 3.12 --implementation cp --platform manylinux2014_x86_64 -d .whl \
#     diffusers==0.42.1 importlib_metadata pytest-xdist execnet   (xdist: the suite in 4 processes)
# and run it as one command within the 600 s a command gets (4 min of training, ≤ 200 s of suite):
#   run(command="bash tools/gpu_emoji64.sh", carry=[".whl"], timeout_s=600)   ($OUT: where it writes)
# The tree is too big to travel whole: a call sends the tracked files (84.4 MB at this script's first
# commit: data/partb 47.8 MB, data/emoji 28.8 MB) and the device takes 64 MiB a call, wheels included.
# This step needs neither the Part B checkpoints nor the shipped 32-px UNet, so for the call only:
#   git rm -r -q --cached data/partb data/emoji/unet && printf '/data/partb/\n/data/emoji/unet/\n' >> .git/info/exclude
#   (≈ 17 MB + 6.4 MB of wheels travel), and straight after it, before anything else:
#   git reset -q -- data/partb data/emoji/unet && sed -i '\|^/data/partb/$|d; \|^/data/emoji/unet/$|d' .git/info/exclude
#   (git status must then be clean again). In that tree the suite's tests of the Part B checkpoints
#   and of the shipped emoji model fail for want of their files; the rest, the CUDA tests among them, run.
# A dry run on a CPU: DEVICE=cpu TRAIN_EXTRA=--tiny SUITE=0 OUT=/tmp/g tools/gpu_emoji64.sh 0.1 8
# Usage: tools/gpu_emoji64.sh [MINUTES (4)] [BATCH (128)]
set -o pipefail
source "$(dirname "$0")/gpu_env.sh"
MIN=${1:-4}; BATCH=${2:-128}; DEVICE=${DEVICE:-cuda}; W=/tmp/emoji64; M=$OUT/emoji64
rm -rf "$W" "$M"; LOG="$OUT/log.txt"; : > "$LOG"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)"
} 2>&1 | tee -a "$LOG"
echo "== 1. train at 64 px on $DEVICE for $MIN min, batch $BATCH" | tee -a "$LOG"
LIMIT=$(python3 -c "print(int($MIN * 60 + 120))")
timeout "$LIMIT" python3 -m fundiff.emoji.train --size 64 --device "$DEVICE" --minutes "$MIN" --steps 1000000 \
    --batch-size "$BATCH" --lr 1e-3 --weighting p2 --focus 0.5 --extra-share 0.2 \
    --extra-prompts "pear;electric light bulb;droplet;balloon;carrot;lollipop;bomb;tent;canoe;umbrella" \
    --out "$W/model" --work "$W/work" --no-progress --save-every 60 $TRAIN_EXTRA 2>&1 \
    | grep -v "kept in float32" | tail -n 60 | tee -a "$LOG"
cp data/emoji/prompt_embeds.safetensors "$W/model/" 2>/dev/null
echo "== 2. CFG samples of the demo's 40 prompts read by the emoji classifier" | tee -a "$LOG"
timeout 180 python3 -m fundiff.emoji.quality samples --path "$W/model" --n 5 --json "$OUT/q64_samples.json" \
    --grid "$OUT/q64_samples.png" 2>&1 | grep -v "kept in float32" | tail -n 8 | tee -a "$LOG"
# the weights in float16 for the trip back (16 MiB a file); the loader casts them to float32
python3 - "$W/model" "$M" <<'EOF' 2>&1 | grep -v "kept in float32" | tee -a "$LOG"
import shutil, sys, torch
from diffusers import UNet2DConditionModel
src, dst = sys.argv[1:]
UNet2DConditionModel.from_pretrained(f"{src}/unet").to(torch.float16).save_pretrained(f"{dst}/unet")
shutil.copytree(f"{src}/scheduler", f"{dst}/scheduler")
shutil.copy(f"{src}/training.json", f"{dst}/training.json")
print("float16 copy of the weights in", dst)
EOF
if [ "${SUITE:-1}" != 0 ]; then
  echo "== 3. the test suite on this machine" | tee -a "$LOG"
  timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="-ra -p fundiff.grading.plugin" $(parallel_tests) 2>&1 | tail -40 \
      | tee -a "$LOG"
fi
