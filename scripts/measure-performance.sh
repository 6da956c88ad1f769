#!/usr/bin/env bash
# Re-measures README's Performance tables on this machine, side by side with the authors' code where a table compares
# with it, then regenerates the tables (`npm run report`). Needs a quiet machine (about an hour on 2 cores), a build
# (`npm run build`), ../shared/refbench and Debian's python3-torch (see ../shared/refbench/README.md).
#   scripts/measure-performance.sh [TABLE ...]   (default: kernels sampling model int8 batch half)
set -euo pipefail
cd "$(dirname "$0")/.."
tables=("$@")
[ ${#tables[@]} -gt 0 ] || tables=(kernels sampling model int8 batch half)
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "measure-performance: uncommitted changes: the records will say dirty" >&2
for t in "${tables[@]}"; do
  echo "== $t ($(date -u +%H:%M:%S))" >&2
  if [ "$t" = kernels ]; then
    node dist/bench/bench.js --only sgemm --repeat 3 --record results/kernels.jsonl
  else
    node dist/bench/side-by-side.js --table "$t" --rounds 3
  fi
done
npm run report
