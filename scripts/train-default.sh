#!/usr/bin/env bash
# Retrains the embedded default model (models/default): a BD3-LM (L' = 4, L = 256 tokens, 6 layers, width 256) on the
# King James Bible with an 8,192-id byte-level BPE tokenizer trained on the same text, with this project's own trainer;
# then exports the EMA weights as fp16 safetensors with the tokenizer, the loss curve, the held-out NELBO (bits per
# byte) and the English check. The recipe was chosen by scripts/sweep-default.sh (results/default-sweep.jsonl); phase
# 1 is that sweep's winning run, phase 2 continues from its weights. Needs the built project (npm run build).
# An interrupted phase continues from its last checkpoint when the script is run again.
#   usage: scripts/train-default.sh [WORK=work/default] [OUT=models/default]
#   env: VOCAB (8192), CORPUS (kjv|all), STEPS (phase 2 steps, 900), LR (phase 2 peak, 4e-4)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/default}
OUT=${2:-models/default}
VOCAB=${VOCAB:-8192}
CORPUS=${CORPUS:-kjv}
STEPS=${STEPS:-900}
LR=${LR:-4e-4}
bd3lm() { node dist/src/cli/main.js "$@"; }
# phase 1: the sweep's run of this recipe (tokenizer, data split, 200 steps from scratch); skipped if already done
ONLY="bpe${VOCAB:0:1}k-$CORPUS" bash scripts/sweep-default.sh "$WORK"
P1="$WORK/sweep/bpe${VOCAB:0:1}k-$CORPUS"
DATA="$WORK/data-$CORPUS-$VOCAB"
RUN="$WORK/run"
resume=()
if [ -f "$RUN/train/latest.json" ]; then
  if grep -q "\"step\":$STEPS," "$RUN/train/latest.json"; then resume=(skip); else resume=(--resume "$RUN"); fi
fi
if [ "${resume[*]:-}" != skip ]; then
  bd3lm train --algo bd3lm --block-size 4 --data "$DATA" --out "$RUN" "${resume[@]}" --init "$P1" \
    --hidden 256 --layers 6 --heads 8 --cond-dim 64 --dropout 0 --batch-size 16 --steps "$STEPS" --lr "$LR" --warmup 100 \
    --lr-schedule cosine --ema 0.999 --seed 2 --save-every 100 --eval-every 200 --eval-batches 8 --log-every 20
fi
# ship: fp16 EMA weights + tokenizer.json, the loss curve, the metrics log, the held-out NELBO of the shipped weights
bd3lm export "$RUN" --out "$OUT" --dtype f16
bd3lm plot "$P1" "$RUN" --out "$OUT/loss.svg"
cp "$P1/metrics.jsonl" "$OUT/metrics-phase1.jsonl"
cp "$RUN/metrics.jsonl" "$OUT/metrics-phase2.jsonl"
bd3lm eval ppl --model "$OUT" --data "$DATA/valid" --batch-size 16 --seed 1 --draws 8 | tee "$OUT/valid-ppl.json"
node dist/bench/english.js --model "$OUT" --samples "$OUT/samples.jsonl" | tee "$OUT/english.json"
