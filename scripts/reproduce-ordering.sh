#!/usr/bin/env bash
# Reproduces the paper's likelihood ordering (AR < BD3-LM L'=4 < L'=16 < MDLM) at small scale on an offline corpus:
# KJV + Brown + fortunes (scripts/corpus.sh), byte-level vocabulary, L = 128, a 4-layer 128-wide DiT, the same token
# budget for every model (STEPS x 8 x 128 tokens). Writes test perplexities and metrics logs under OUT; the README's
# table is made from them by `npm run report` (bench/report/ordering.ts).
#   usage: scripts/reproduce-ordering.sh [OUT=results/ordering] [WORK=work]      env: STEPS (default 2000), DRAWS (8)
# Writes OUT/RUN.{ppl,time,config,metrics}.json(l) per model and OUT/curves.svg.
# The diffusion models' test NELBO is a Monte-Carlo estimate: it averages DRAWS draws of t (AR's NLL is exact).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/ordering}
WORK=${2:-work}
STEPS=${STEPS:-2000}
DRAWS=${DRAWS:-8}
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$OUT" "$WORK"
bash scripts/corpus.sh "$WORK/corpus"
[ -f "$WORK/data/train/meta.json" ] || bd3lm prepare --tokenizer bytes --length 128 "$WORK/corpus" --out "$WORK/data" --valid-fraction 0.02 --seed 1
common=(--data "$WORK/data" --hidden 128 --layers 4 --heads 4 --cond-dim 64 --batch-size 8 --steps "$STEPS" --lr 1e-3
  --warmup 200 --save-every "$STEPS" --eval-every 500 --eval-batches 16 --seed 1 --log-every 100)
# commit, date and CPU of a run (bench/provenance.ts), merged into its time record
stamp() { node --input-type=module -e "import { provenance } from './dist/bench/provenance.js'; console.log(JSON.stringify({ ...$1, ...provenance() }))"; }
run() {
  local name=$1 draws=$2; shift 2
  rm -rf "$WORK/runs/$name"
  local t0=$SECONDS
  bd3lm train "$@" --out "$WORK/runs/$name" "${common[@]}"
  stamp "{ run: '$name', train_seconds: $((SECONDS - t0)), steps: $STEPS }" > "$OUT/$name.time.json"
  cp "$WORK/runs/$name/metrics.jsonl" "$OUT/$name.metrics.jsonl"
  cp "$WORK/runs/$name/config.json" "$OUT/$name.config.json"
  bd3lm eval ppl --model "$WORK/runs/$name" --data "$WORK/data/valid" --batch-size 16 --seed 1 --draws "$draws" | tee "$OUT/$name.ppl.json"
}
run ar 1 --algo ar
run bd3lm-4 "$DRAWS" --algo bd3lm --block-size 4
run bd3lm-16 "$DRAWS" --algo bd3lm --block-size 16
run mdlm "$DRAWS" --algo mdlm
bd3lm plot --out "$OUT/curves.svg" "$WORK/runs/ar" "$WORK/runs/bd3lm-4" "$WORK/runs/bd3lm-16" "$WORK/runs/mdlm"
