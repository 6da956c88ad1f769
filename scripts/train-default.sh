#!/usr/bin/env bash
# Retrains the embedded default model (models/default): a byte-level BD3-LM (L' = 4, L = 256, 6 layers, width 192)
# on the offline English corpus of scripts/corpus.sh (KJV + Brown + fortunes), with this project's own trainer, then
# exports the EMA weights as fp16 safetensors with its loss curve and validation NELBO. Needs the built project
# (npm run build). About an hour on 2 cores.
#   usage: scripts/train-default.sh [WORK=work/default] [OUT=models/default]      env: STEPS (default 1800)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/default}
OUT=${2:-models/default}
STEPS=${STEPS:-1800}
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$WORK"
bash scripts/corpus.sh "$WORK/corpus"
[ -f "$WORK/data/train/meta.json" ] || bd3lm prepare --tokenizer bytes --length 256 "$WORK/corpus" --out "$WORK/data" --valid-fraction 0.01 --seed 1
# --resume continues an interrupted run from its last checkpoint (step-N directory)
resume=(); [ -f "$WORK/run/latest.json" ] && resume=(--resume "$WORK/run")
bd3lm train --algo bd3lm --block-size 4 --data "$WORK/data" --out "$WORK/run" "${resume[@]}" \
  --hidden 192 --layers 6 --heads 6 --cond-dim 64 --dropout 0 \
  --batch-size 16 --steps "$STEPS" --lr 1.5e-3 --warmup 200 --lr-schedule cosine \
  --save-every 200 --eval-every 400 --eval-batches 16 --seed 1 --log-every 20
# ship: fp16 EMA weights, the loss curve, the metrics log and the test NELBO of the shipped (fp16) weights
bd3lm export "$WORK/run" --out "$OUT" --dtype f16
bd3lm plot "$WORK/run" --out "$OUT/loss.svg"
cp "$WORK/run/metrics.jsonl" "$OUT/metrics.jsonl"
bd3lm eval ppl --model "$OUT" --data "$WORK/data/valid" --batch-size 16 --seed 1 | tee "$OUT/valid-ppl.json"
