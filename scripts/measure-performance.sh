#!/usr/bin/env bash
# Re-measures README's Performance tables on this machine, side by side with the authors' code where a table compares
# with it, then regenerates the tables (`npm run report`). Needs a quiet machine (about an hour on 2 cores), a build
# (`npm run build`), ../shared/refbench and Debian's python3-torch (see ../shared/refbench/README.md).
#   scripts/measure-performance.sh [TABLE ...]
#   (default: front-page kernels sampling model int8 batch half server server-small; server* are the load tests of
#   bench/loadtest.ts, front-page README's first sample, bench/front-page.ts)
set -euo pipefail
cd "$(dirname "$0")/.."
tables=("$@")
[ ${#tables[@]} -gt 0 ] || tables=(front-page kernels sampling model int8 batch half server server-small)
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "measure-performance: uncommitted changes: the records will say dirty" >&2
for t in "${tables[@]}"; do
  echo "== $t ($(date -u +%H:%M:%S))" >&2
  if [ "$t" = front-page ]; then
    node dist/bench/front-page.js --runs 3 --record results/front-page.jsonl
  elif [ "$t" = kernels ]; then
    node dist/bench/bench.js --only sgemm --repeat 3 --record results/kernels.jsonl
  elif [ "$t" = server ]; then
    node dist/bench/loadtest.js --clients 1,8 --seconds 20 --rounds 3 --bound --record results/loadtest-batching.jsonl
    node dist/bench/loadtest.js --clients 64 --max-active 64 --seconds 60 --rounds 3 --record results/loadtest-64.jsonl
  elif [ "$t" = server-small ]; then
    node dist/bench/loadtest.js --preset small --clients 1,8 --seconds 60 --rounds 3 --bound --record results/loadtest-small.jsonl
  else
    node dist/bench/side-by-side.js --table "$t" --rounds 3
  fi
done
npm run report
