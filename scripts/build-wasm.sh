#!/usr/bin/env bash
# Builds the WebAssembly backend from the same C as the Node addon:
#   wasm/bd3lm-simd.wasm     SIMD128, threads (shared memory, atomics)
#   wasm/bd3lm-relaxed.wasm  + relaxed SIMD (FMA), threads
#   wasm/bd3lm-simd-st.wasm  SIMD128, single thread, non-shared memory (pages without SharedArrayBuffer)
# Sources: scripts/kernel-sources.sh (native/kernels/*.c, as the addon) and native/wasm/*.c.
# clang's driver would run Debian's old wasm-opt, which rejects relaxed-SIMD opcodes, so we compile with -c and
# link with wasm-ld-16 directly. BD_WASM_KERNELS overrides the kernel folder (runtime tests with stub kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
# the committed wasm/*.wasm must come out byte for byte the same on every machine (CI compares): a fixed source
# order (C collation) and no paths or dates in the output (no debug info)
export LC_ALL=C

CC=${CC_WASM:-clang-16}
LD=${LD_WASM:-wasm-ld-16}
for tool in "$CC" "$LD"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-wasm: '$tool' not found. Install it with: apt-get install clang-16 lld-16" >&2
    exit 1
  fi
done

KDIR=${BD_WASM_KERNELS:-native/kernels}
mapfile -t SRCS < <(bash scripts/kernel-sources.sh "$KDIR"; bash scripts/kernel-sources.sh native/wasm)
if ! compgen -G "$KDIR/*.c" >/dev/null; then
  echo "build-wasm: no kernel sources in $KDIR" >&2
  exit 1
fi

# objects in a private temp dir: build/ belongs to node-gyp, whose `rebuild` wipes it
OBJ=$(mktemp -d "${TMPDIR:-/tmp}/bd3lm-wasm.XXXXXX")
trap 'rm -rf "$OBJ"' EXIT
mkdir -p wasm
CFLAGS=(--target=wasm32 -O3 -msimd128 -mbulk-memory -msign-ext -mnontrapping-fptoint -mmutable-globals
  -nostdlib -ffreestanding -fno-exceptions -Wall -DBD_WASM_BINDINGS -Inative -I"$KDIR" -include native/wasm/compat.h)
# Memory: imported from JS (so workers share it), 16 MiB initially, up to 4 GiB; the main stack sits first so an
# overflow traps instead of corrupting data. Workers get their stacks from the heap and set __stack_pointer.
LDFLAGS=(--no-entry --import-memory --initial-memory=16777216 --max-memory=4294967296 -z stack-size=1048576
  --stack-first --export=__stack_pointer)
MT_LDFLAGS=(--shared-memory --export=__wasm_init_tls --export=__tls_size --export=__tls_align)

# variant name, extra cflags, threaded (1/0)
build() {
  local name=$1 extra=$2 mt=$3 objs=() pids=() f o
  local flags=("${CFLAGS[@]}")
  # shellcheck disable=SC2206
  flags+=($extra)
  [ "$mt" = 1 ] && flags+=(-matomics)
  for f in "${SRCS[@]}"; do
    o="$OBJ/$name-$(echo "$f" | tr '/' '_').o"
    objs+=("$o")
    "$CC" "${flags[@]}" -c "$f" -o "$o" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local ld=("${LDFLAGS[@]}")
  [ "$mt" = 1 ] && ld+=("${MT_LDFLAGS[@]}")
  "$LD" "${ld[@]}" "${objs[@]}" -o "wasm/bd3lm-$name.wasm"
  echo "built wasm/bd3lm-$name.wasm ($(wc -c <"wasm/bd3lm-$name.wasm") bytes)"
}

build simd "" 1
build relaxed "-mrelaxed-simd" 1
build simd-st "" 0
