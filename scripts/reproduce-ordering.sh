#!/usr/bin/env bash
# Reproduces the paper's likelihood ordering (AR < BD3-LM L'=4 < L'=16 < MDLM) at small scale on an offline corpus:
# KJV + Brown + fortunes (scripts/corpus.sh), byte-level vocabulary, L = 128, a 4-layer 128-wide DiT, the same token
# budget for every model (STEPS x 8 x 128 tokens). Writes test perplexities and metrics logs under OUT.
#   usage: scripts/reproduce-ordering.sh [OUT=results/ordering] [WORK=work]      env: STEPS (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/ordering}
WORK=${2:-work}
STEPS=${STEPS:-2000}
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$OUT" "$WORK"
bash scripts/corpus.sh "$WORK/corpus"
[ -f "$WORK/data/train/meta.json" ] || bd3lm prepare --tokenizer bytes --length 128 "$WORK/corpus" --out "$WORK/data" --valid-fraction 0.02 --seed 1
common=(--data "$WORK/data" --hidden 128 --layers 4 --heads 4 --cond-dim 64 --batch-size 8 --steps "$STEPS" --lr 1e-3
  --warmup 200 --save-every "$STEPS" --eval-every 500 --eval-batches 16 --seed 1 --log-every 100)
run() {
  local name=$1; shift
  rm -rf "$WORK/runs/$name"
  local t0=$SECONDS
  bd3lm train "$@" --out "$WORK/runs/$name" "${common[@]}"
  echo "{\"run\":\"$name\",\"train_seconds\":$((SECONDS - t0))}" > "$OUT/$name.time.json"
  cp "$WORK/runs/$name/metrics.jsonl" "$OUT/$name.metrics.jsonl"
  cp "$WORK/runs/$name/config.json" "$OUT/$name.config.json"
  bd3lm eval ppl --model "$WORK/runs/$name" --data "$WORK/data/valid" --batch-size 16 --seed 1 | tee "$OUT/$name.ppl.json"
}
run ar --algo ar
run bd3lm-4 --algo bd3lm --block-size 4
run bd3lm-16 --algo bd3lm --block-size 16
run mdlm --algo mdlm
