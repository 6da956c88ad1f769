#!/usr/bin/env bash
# Retrains the embedded default model (models/default): a byte-level BD3-LM (L' = 4, L = 256, 6 layers, width 192)
# on the offline English corpus of scripts/corpus.sh (KJV + Brown + fortunes), with this project's own trainer, then
# exports the EMA weights as fp16 safetensors with its loss curve and validation NELBO. Needs the built project
# (npm run build). About 70 minutes on 2 cores.
#   usage: scripts/train-default.sh [WORK=work/default] [OUT=models/default]      env: STEPS (default 1800), STEPS2 (1400)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/default}
OUT=${2:-models/default}
STEPS=${STEPS:-1800}
STEPS2=${STEPS2:-1400}
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$WORK"
bash scripts/corpus.sh "$WORK/corpus"
[ -f "$WORK/data/train/meta.json" ] || bd3lm prepare --tokenizer bytes --length 256 "$WORK/corpus" --out "$WORK/data" --valid-fraction 0.01 --seed 1
# Two cosine cycles: phase 1 from scratch, phase 2 from phase 1's EMA weights with a lower peak rate and a fresh
# shuffle. Either phase continues from its last checkpoint if interrupted (--resume), and is skipped once finished.
train_phase() { # train_phase RUN_DIR STEPS ARGS...
  local run=$1 steps=$2; shift 2
  local resume=()
  if [ -f "$run/train/latest.json" ]; then
    grep -q "\"step\":$steps," "$run/train/latest.json" && return 0
    resume=(--resume "$run")
  fi
  bd3lm train --algo bd3lm --block-size 4 --data "$WORK/data" --out "$run" "${resume[@]}" \
    --hidden 192 --layers 6 --heads 6 --cond-dim 64 --dropout 0 --batch-size 16 --steps "$steps" --lr-schedule cosine \
    --save-every 200 --eval-every 400 --eval-batches 16 --log-every 20 "$@"
}
train_phase "$WORK/run" "$STEPS" --lr 1.5e-3 --warmup 200 --seed 1
train_phase "$WORK/run2" "$STEPS2" --lr 6e-4 --warmup 100 --seed 2 --init "$WORK/run"
# ship: fp16 EMA weights, the loss curve, the metrics log and the test NELBO of the shipped (fp16) weights
bd3lm export "$WORK/run2" --out "$OUT" --dtype f16
bd3lm plot "$WORK/run" "$WORK/run2" --out "$OUT/loss.svg"
cp "$WORK/run/metrics.jsonl" "$OUT/metrics-phase1.jsonl"
cp "$WORK/run2/metrics.jsonl" "$OUT/metrics-phase2.jsonl"
bd3lm eval ppl --model "$OUT" --data "$WORK/data/valid" --batch-size 16 --seed 1 | tee "$OUT/valid-ppl.json"
