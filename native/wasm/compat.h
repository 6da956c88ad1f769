/* Force-included (-include) into every wasm compile by scripts/build-wasm.sh. clang 16's wasm_simd128.h lacks the
 * relaxed-SIMD intrinsics that clang 17+ declares; define the ones the kernels use over the clang 16 builtins
 * (same operand order: relaxed_madd(a, b, c) = a * b + c, fused or not). */
#ifndef BD_WASM_COMPAT_H
#define BD_WASM_COMPAT_H
#if defined(__wasm_relaxed_simd__) && __clang_major__ < 17
#include <wasm_simd128.h>
static inline v128_t wasm_f32x4_relaxed_madd(v128_t a, v128_t b, v128_t c) {
  return (v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)a, (__f32x4)b, (__f32x4)c);
}
static inline v128_t wasm_f32x4_relaxed_nmadd(v128_t a, v128_t b, v128_t c) {
  return (v128_t)__builtin_wasm_relaxed_nmadd_f32x4((__f32x4)a, (__f32x4)b, (__f32x4)c);
}
#endif
#endif
