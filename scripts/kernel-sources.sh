#!/usr/bin/env bash
# The kernel sources both builds compile (binding.gyp for the addon, build-wasm.sh for WebAssembly): every
# <dir>/*.c (default native/kernels) in C collation order, less scratch files named test_*.c or scratch_*.c.
set -euo pipefail
export LC_ALL=C
dir=${1:-native/kernels}
shopt -s nullglob
for f in "$dir"/*.c; do
  case "$(basename "$f")" in test_* | scratch_*) ;; *) echo "$f" ;; esac
done
