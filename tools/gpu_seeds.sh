#!/bin/bash
# Seed-to-seed spread of the course's class-conditioned model, float32 vs bf16-autocast training on
# CUDA (seeds given as arguments; 20 epochs, batch 128), read on paired samples; and the IF-loop
# diagnosis of tools/gpu_diag_if.py.  Usage: tools/gpu_seeds.sh PER_DIGIT SEED...
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
PER_DIGIT=$1; shift; SEEDS="$*"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
timeout 60 python3 tools/gpu_diag_if.py 2>&1 | grep -v -E "error occurred|deprecat|Loading pipeline|torch_dtype" | tee "$OUT/diag_if.txt"
W=/tmp/seed-runs; rm -rf $W
timeout 200 python3 -c "
import time, torch
torch.backends.cudnn.allow_tf32 = False; torch.backends.cuda.matmul.allow_tf32 = False
from fundiff.train import main
from fundiff.checkpoint import load_checked, save_atomic
for seed in '$SEEDS'.split():
    for flag in ('--no-fast', None):
        run = ('plain' if flag else 'fast') + seed
        t0 = time.time()
        main(['class', '--device', 'cuda', '--seed', seed, '--sample-epochs', '--out', '$W/' + run] + ([flag] if flag else []))
        t, meta = load_checked('$W/' + run + '/epoch_020.safetensors')
        save_atomic({k: v.half() if v.is_floating_point() else v for k, v in t.items()}, '$W/' + run + '.safetensors', meta)
        print(run, 'trained in', round(time.time() - t0, 1), 's', flush=True)
" 2>&1 | tr '\r' '\n' | grep -E "trained in|Error|error" | tee "$OUT/train_seeds.txt"
SPECS=""; for s in $SEEDS; do SPECS="$SPECS $W/plain$s.safetensors $W/fast$s.safetensors"; done
timeout 150 python3 -m fundiff.metrics compare $SPECS --per-digit "$PER_DIGIT" --device cuda --chunk 1000 \
    --json "$OUT/quality_seeds.json" 2>&1 | tee "$OUT/quality_seeds.txt"
