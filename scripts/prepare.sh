#!/usr/bin/env bash
# npm's `prepare` hook (runs on `npm install` / `npm ci` in a checkout): the TypeScript always; the WebAssembly and
# native kernels when their toolchains are installed (clang-16 + lld-16; node-gyp's python3, make, g++ and, for the
# fast sgemm, libopenblas-dev). A kernel build that cannot run leaves a note, not a failed install: the library then
# runs on whichever backend exists (native, else wasm, else the plain TypeScript reference).
set -uo pipefail
cd "$(dirname "$0")/.."
npm run --silent build:ts || exit 1
note() { echo "bd3lm: $1 not built ($2); everything still runs, more slowly. Later: $3" >&2; }
npm run --silent build:wasm >/dev/null 2>&1 || note "WebAssembly kernels" "needs clang-16 lld-16" "npm run build:wasm"
npm run --silent build:native >/dev/null 2>&1 || note "the native addon" "needs python3 make g++, libopenblas-dev" "npm run build:native"
exit 0
