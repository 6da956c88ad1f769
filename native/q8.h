/* int8 weight storage read as fp32 (inference option; see src/model/quantize.ts): a row of int8 values q with one
 * fp32 scale s per row stands for the fp32 values q * s (one float multiply, so every loader below and the
 * TypeScript reference, src/tensor/int8.ts, give the same bits). */
#ifndef BD_Q8_H
#define BD_Q8_H
#include <stdint.h>

static inline float bd_q8_to_f32(int8_t q, float s) { return (float)q * s; }

#if defined(__AVX2__)
#include <immintrin.h>
/* 8 int8 values at p (unaligned) times s */
static inline __m256 bd_load8q(const int8_t *p, float s) {
  __m128i x = _mm_loadl_epi64((const __m128i *)p);
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(x)), _mm256_set1_ps(s));
}
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
/* 4 int8 values at p times s */
static inline v128_t bd_load4q(const int8_t *p, float s) {
  v128_t x = wasm_i32x4_extend_low_i16x8(wasm_i16x8_extend_low_i8x16(wasm_v128_load32_zero(p)));
  return wasm_f32x4_mul(wasm_f32x4_convert_i32x4(x), wasm_f32x4_splat(s));
}
#endif

/* out[i] = q[i] * s, i < n */
static inline void bd_q8_row(const int8_t *q, float s, float *out, int n) {
  int i = 0;
#if defined(__AVX2__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, bd_load8q(q + i, s));
#elif defined(__wasm_simd128__)
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, bd_load4q(q + i, s));
#endif
  for (; i < n; i++) out[i] = bd_q8_to_f32(q[i], s);
}

#endif
