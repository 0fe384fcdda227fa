#!/bin/bash
# Seed-to-seed spread of the course's class-conditioned model, float32 vs bf16-autocast training on
# CUDA (seeds given as arguments; 20 epochs, batch 128), read on paired samples; and the IF-loop
# diagnosis of tools/gpu_diag_if.py.  Usage: tools/gpu_seeds.sh PER_DIGIT SEED...
set -o pipefail
source "$(dirname "$0")/gpu_env.sh"
PER_DIGIT=$1; shift; SEEDS="$*"
timeout 60 python3 tools/gpu_diag_if.py 2>&1 | grep -v -E "error occurred|deprecat|Loading pipeline|torch_dtype" | tee "$OUT/diag_if.txt"
W=/tmp/seed-runs; rm -rf $W
timeout 200 python3 tools/train_cuda_pair.py $W $SEEDS 2>&1 | tr '\r' '\n' | grep -E "trained in|Error" | tee "$OUT/train_seeds.txt"
SPECS=""; for s in $SEEDS; do SPECS="$SPECS $W/plain$s.safetensors $W/fast$s.safetensors"; done
timeout 150 python3 -m fundiff.metrics compare $SPECS --per-digit "$PER_DIGIT" --device cuda --chunk 1000 \
    --json "$OUT/quality_seeds.json" 2>&1 | tee "$OUT/quality_seeds.txt"
