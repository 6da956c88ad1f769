#!/usr/bin/env bash
# npm's `prepare` hook (runs on `npm install` / `npm ci` in a checkout, and again when `npx bd3lm` first links the
# checkout into npm's npx cache): builds the TypeScript, and the native addon when a C toolchain is installed
# (node-gyp's python3, make, g++; libopenblas-dev for the fast sgemm). The WebAssembly kernels are committed
# (wasm/*.wasm), so nothing here needs clang. Ends with one line saying which backend will run.
# Each step is skipped when its output is newer than its sources, so a second run (npx's) takes about a second.
set -uo pipefail
cd "$(dirname "$0")/.."

# stale OUT SRC...: OUT is missing or some file under SRC is newer
stale() {
  local out=$1
  shift
  [ ! -e "$out" ] || [ -n "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

if stale dist/.prepared src test bench tsconfig.json package.json native/kernels.def; then
  npm run --silent build:ts || exit 1
  touch dist/.prepared
fi

log=build/native-build.log
if stale build/Release/bd3lm.node native binding.gyp; then
  tmp=$(mktemp) # node-gyp rebuild wipes build/: the log moves there afterwards
  npm run build:native >"$tmp" 2>&1 # not --silent: node-gyp takes its log level from npm
  mkdir -p build && mv -f "$tmp" "$log"
fi

node dist/src/cli/install-note.js "$log"
exit 0
