#!/usr/bin/env bash
# Every figure of the emoji model's quality (issue 12), as the closing note quotes them:
#   bash tools/emoji_quality.sh [OUT_DIR] [MODEL_DIR]
# writes OUT_DIR/{samples,anagrams,hybrids,sdedit}.json and .png (default runs/quality_emoji/, data/emoji).
set -euo pipefail
out=${1:-runs/quality_emoji}; model=${2:-data/emoji}
mkdir -p "$out"
for what in samples anagrams hybrids sdedit; do
  python -m fundiff.emoji.quality "$what" --path "$model" --json "$out/$what.json" --grid "$out/$what.png" ${N:+--n $N}
done
