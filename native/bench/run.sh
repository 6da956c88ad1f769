#!/bin/sh
# Build and run the sgemm harness: native (own + OpenBLAS) and single-threaded wasm (simd128, relaxed).
# Usage: native/bench/run.sh [native|wasm|all|scalar|w8a8] [extra args for the native binary]
set -e
cd "$(dirname "$0")"
OUT=${OUT_DIR:-/tmp/bd3lm-sgemm-bench}
mkdir -p "$OUT"
what=${1:-all}
[ $# -gt 0 ] && shift
CC=${CC:-gcc}
if [ "$what" = native ] || [ "$what" = all ]; then
  $CC -O3 -mavx2 -mfma -std=c11 -D_GNU_SOURCE -DBD_HAVE_OPENBLAS -I/usr/include/x86_64-linux-gnu \
    sgemm_bench.c ../kernels/sgemm.c ../runtime_posix.c -o "$OUT/sgemm_bench" \
    /usr/lib/x86_64-linux-gnu/libopenblas.a -lgfortran -lpthread -lm 2>/dev/null ||
  $CC -O3 -mavx2 -mfma -std=c11 -D_GNU_SOURCE -DBD_HAVE_OPENBLAS -I/usr/include/x86_64-linux-gnu \
    sgemm_bench.c ../kernels/sgemm.c ../runtime_posix.c -o "$OUT/sgemm_bench" -lopenblas -lpthread -lm
  OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2} "$OUT/sgemm_bench" "$@"
fi
if [ "$what" = w8a8 ]; then # per-core rates of the fp32, int8-weight and W8A8 products (w8a8_bench.c)
  $CC -O3 -mavx2 -mfma -mf16c -ffp-contract=fast -std=c11 -D_GNU_SOURCE -pthread -I.. w8a8_bench.c ../kernels/sgemm.c \
    ../kernels/w8a8.c ../kernels/scratch.c ../runtime_posix.c -o "$OUT/w8a8_bench" -lm
  BD3LM_THREADS=1 "$OUT/w8a8_bench"
fi
if [ "$what" = scalar ]; then # the portable C fallback (no SIMD), correctness only
  $CC -O2 -std=c11 -D_GNU_SOURCE sgemm_bench.c ../kernels/sgemm.c ../runtime_posix.c -o "$OUT/sgemm_scalar" -lpthread -lm
  "$OUT/sgemm_scalar" --reps 0 --rounds 1 | head -2
fi
if [ "$what" = wasm ] || [ "$what" = all ]; then
  for v in simd128 relaxed; do
    flags="-msimd128"
    [ $v = relaxed ] && flags="-msimd128 -mrelaxed-simd"
    for f in sgemm_bench.c ../kernels/sgemm.c wasm_stub.c; do
      clang-16 --target=wasm32 $flags $WASM_CFLAGS -O3 -nostdlib -ffreestanding -c "$f" -o "$OUT/$(basename "$f" .c).$v.o"
    done
    wasm-ld-16 --no-entry --export-dynamic -z stack-size=1048576 --initial-memory=67108864 --max-memory=4294967296 \
      "$OUT"/sgemm_bench.$v.o "$OUT"/sgemm.$v.o "$OUT"/wasm_stub.$v.o -o "$OUT/sgemm_$v.wasm"
    node --experimental-wasm-relaxed-simd sgemm_bench.mjs "$OUT/sgemm_$v.wasm" $WASM_ARGS
  done
fi
