#!/usr/bin/env bash
# Trains the model that the threshold-sampler benchmark needs (a sampler that reveals confident tokens in parallel
# only pays on a model that is confident; random weights never are): the bench's tiny preset (hidden 256, 8 layers,
# 8 heads, GPT-2 vocabulary), BD3-LM L' = 16, L = 256, on the King James Bible (scripts/corpus.sh), with this
# project's own trainer. Resumable. Needs the built project (npm run build). About 50 minutes on 2 cores.
#   usage: scripts/train-threshold-model.sh [WORK=work/threshold]      env: STEPS (default 1000)
# Then: node dist/bench/parallel-sweep.js --model WORK/run --judge AR_DIR --length 512   (see README, Performance)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/threshold}
STEPS=${STEPS:-1000}
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$WORK"
bash scripts/corpus.sh "$WORK/corpus" >/dev/null
[ -f "$WORK/data/train/meta.json" ] || bd3lm prepare --tokenizer gpt2 --length 256 "$WORK/corpus/kjv" --out "$WORK/data" --valid-fraction 0.02 --seed 1
resume=()
if [ -f "$WORK/run/train/latest.json" ]; then
  grep -q "\"step\":$STEPS," "$WORK/run/train/latest.json" && exit 0
  resume=(--resume "$WORK/run")
fi
bd3lm train --algo bd3lm --preset tiny --block-size 16 --data "$WORK/data" --out "$WORK/run" "${resume[@]}" \
  --dropout 0 --batch-size 8 --steps "$STEPS" --lr 1e-3 --warmup 100 --lr-schedule cosine --seed 1 \
  --save-every 100 --eval-every 500 --eval-batches 8 --log-every 20
