#!/usr/bin/env bash
# The short sweep that chose the default model's recipe (issue 16): equal-step runs over tokenizer / vocabulary size,
# corpus, width/depth and learning rate, each judged by held-out bits per byte (`eval ppl`) and the share of
# dictionary words in 8 samples (bench/english.ts). One JSON line per run goes to results/default-sweep.jsonl.
# Runs already in WORK are not retrained (delete WORK/sweep/NAME to redo one).
#   usage: scripts/sweep-default.sh [WORK=work/default]        env: STEPS (default 200), ONLY (run names, space-separated)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/default}
STEPS=${STEPS:-200}
OUTJ=results/default-sweep.jsonl
bd3lm() { node dist/src/cli/main.js "$@"; }
mkdir -p "$WORK/sweep" results
bash scripts/corpus.sh "$WORK/corpus" >/dev/null
tokdir() { # tokdir CORPUS VOCAB -> folder with tokenizer.json (or 'bytes')
  local corpus=$1 vocab=$2
  [ "$vocab" = bytes ] && { echo bytes; return; }
  local d="$WORK/tok-$corpus-$vocab"
  local src="$WORK/corpus"; [ "$corpus" = kjv ] && src="$WORK/corpus/kjv"
  [ -f "$d/tokenizer.json" ] || bd3lm tokenizer train --vocab-size "$vocab" --out "$d" --quiet "$src" >/dev/null
  echo "$d"
}
datadir() { # datadir CORPUS VOCAB
  local corpus=$1 vocab=$2 d="$WORK/data-$1-$2"
  local src="$WORK/corpus"; [ "$corpus" = kjv ] && src="$WORK/corpus/kjv"
  [ -f "$d/train/meta.json" ] || bd3lm prepare --tokenizer "$(tokdir "$corpus" "$vocab")" --length 256 "$src" --out "$d" --valid-fraction 0.03 --seed 1 --quiet >/dev/null
  echo "$d"
}
run() { # run NAME CORPUS VOCAB HIDDEN LAYERS HEADS LR [BLOCK_SIZE=4]
  local name=$1 corpus=$2 vocab=$3 hidden=$4 layers=$5 heads=$6 lr=$7 bs=${8:-4}
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
  local out="$WORK/sweep/$name"
  [ -f "$out/done.json" ] && return 0
  local data; data=$(datadir "$corpus" "$vocab")
  rm -rf "$out"
  local t0=$SECONDS
  bd3lm train --algo bd3lm --block-size "$bs" --data "$data" --out "$out" --hidden "$hidden" --layers "$layers" --heads "$heads" \
    --cond-dim 64 --dropout 0 --batch-size 16 --steps "$STEPS" --lr "$lr" --warmup 50 --lr-schedule cosine --save-every 1000 \
    --log-every 50 --seed 1 --ema 0 > "$out.log" 2>&1
  local train_s=$((SECONDS - t0))
  local ppl; ppl=$(bd3lm eval ppl --model "$out" --data "$data/valid" --batch-size 16 --seed 1 --draws 8)
  local eng; eng=$(node dist/bench/english.js --model "$out" --samples "$out/samples.jsonl")
  local params; params=$(bd3lm info "$out" | sed -n "s/^trainable parameters: \([0-9,]*\).*/\1/p" | tr -d ,)
  echo "{\"run\":\"$name\",\"corpus\":\"$corpus\",\"vocab\":\"$vocab\",\"hidden\":$hidden,\"layers\":$layers,\"heads\":$heads,\"lr\":$lr,\"steps\":$STEPS,\"batch\":16,\"L\":256,\"block_size\":$bs,\"train_seconds\":$train_s,\"commit\":\"$(git rev-parse --short HEAD)\",\"date\":\"$(date -u +%FT%TZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"ppl\":$ppl,\"english\":$eng,\"parameters\":${params:-null}}" | tee -a "$OUTJ"
  echo "{}" > "$out/done.json"
}
run bytes-kjv       kjv bytes 256 6 8 1e-3
run bpe4k-kjv       kjv 4096  256 6 8 1e-3
run bpe8k-kjv       kjv 8192  256 6 8 1e-3
run bpe4k-all       all 4096  256 6 8 1e-3
run bpe8k-kjv-w384  kjv 8192  384 4 6 1e-3
run bpe8k-kjv-lr2e3 kjv 8192  256 6 8 2e-3
run bpe8k-kjv-bs16  kjv 8192  256 6 8 1e-3 16
