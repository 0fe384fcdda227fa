#!/bin/bash
# The GPU checks of fundiff, for a machine with a CUDA device and no network (run from the repo root):
#   1. the quality of fast-path training (issue 7): the class-conditioned model trained at the course
#      settings (seed 0, 20 epochs, batch 128) the plain way on this GPU (float32, TF32 off) and the
#      fast way (bf16 autocast), then paired samples (float32 sampling) of those, of CPU_FAST_WEIGHTS
#      (trained on a CPU's fast path) and of the shipped model (also on CUDA's bf16 path), read by
#      the digit classifier; every model's weights stored in float16, as the package ships them,
#   2. the whole test suite on that machine (the CUDA tests included),
#   3. python -m fundiff.bench --device cuda.
# Extra packages (diffusers, ...) may come as wheels in .whl/; results go to $OUT (default ./gpu-out).
# Usage: tools/gpu_check.sh CPU_FAST_WEIGHTS [PER_DIGIT]
set -o pipefail
source "$(dirname "$0")/gpu_env.sh"
CPU_FAST=$1; PER_DIGIT=${2:-300}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, torch.cuda.get_device_name())"
  echo "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores, bf16 flags: $(grep -o -E 'avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
} 2>&1 | tee "$OUT/env.txt"
echo "== 1. quality: train plain (fp32, TF32 off) and fast (bf16) on CUDA, then paired samples"
W=/tmp/gpu-runs; rm -rf $W
timeout 150 python3 tools/train_cuda_pair.py $W 0 2>&1 | tr '\r' '\n' | grep -E "trained in|Error" | tee "$OUT/train_gpu.txt"
cp $W/plain0/losses.csv "$OUT/plain_losses.csv"; cp $W/fast0/losses.csv "$OUT/fast_losses.csv"
timeout 240 python3 -m fundiff.metrics compare $W/plain0.safetensors $W/fast0.safetensors \
    "$CPU_FAST" data/partb/class_epoch20.safetensors data/partb/class_epoch20.safetensors:fast \
    --per-digit "$PER_DIGIT" --device cuda --chunk 3000 --json "$OUT/quality.json" 2>&1 | tee "$OUT/quality.txt"
echo "== 2. the test suite on this machine"
timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="-ra -p fundiff.grading.plugin" $(parallel_tests) 2>&1 | tail -40 | tee "$OUT/tests.txt"
echo "== 3. bench on CUDA"
timeout 120 python3 -m fundiff.bench --device cuda --workloads train-time train-class sample-partb sample-parta \
    --repeats 3 --iters 5 --sample-steps 60 --no-flops --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.txt"
