/* Half-precision weight storage read as fp32 (inference option; see src/model/half.ts). bf16 is the top half of a
 * float32; f16 is IEEE binary16, widened exactly (subnormals, inf and NaN included). Vector loaders for AVX2
 * (F16C when compiled with -mf16c) and wasm SIMD128 agree bit for bit with the scalar one. */
#ifndef BD_HALF_H
#define BD_HALF_H
#include <stdint.h>

#define BD_HALF_BF16 1
#define BD_HALF_F16 2

static inline float bd_bits_f32(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

/* exponent/mantissa shifted into a float's place and scaled by 2^112 (exact for normals and subnormals);
 * exponent 31 (inf/NaN) gets the float's all-ones exponent */
static inline float bd_f16_to_f32(uint16_t h) {
  uint32_t em = (uint32_t)(h & 0x7fff) << 13, sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t u;
  if (em >= (0x7c00u << 13)) u = em | 0x7f800000u;
  else {
    float f = bd_bits_f32(em) * 0x1p112f;
    __builtin_memcpy(&u, &f, 4);
  }
  return bd_bits_f32(u | sign);
}

static inline float bd_half_to_f32(uint16_t h, int fmt) {
  return fmt == BD_HALF_BF16 ? bd_bits_f32((uint32_t)h << 16) : bd_f16_to_f32(h);
}

#if defined(__AVX2__)
#include <immintrin.h>
/* 8 halves at p (unaligned) as floats */
static inline __m256 bd_load8h(const uint16_t *p, int fmt) {
  __m128i h = _mm_loadu_si128((const __m128i *)p);
  if (fmt == BD_HALF_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
#if defined(__F16C__)
  return _mm256_cvtph_ps(h);
#else
  __m256i x = _mm256_cvtepu16_epi32(h);
  __m256i em = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fff)), 13);
  __m256i sign = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x8000)), 16);
  __m256 fin = _mm256_mul_ps(_mm256_castsi256_ps(em), _mm256_set1_ps(0x1p112f));
  __m256 inf = _mm256_castsi256_ps(_mm256_or_si256(em, _mm256_set1_epi32(0x7f800000)));
  __m256i big = _mm256_cmpgt_epi32(em, _mm256_set1_epi32((0x7c00 << 13) - 1));
  __m256 r = _mm256_blendv_ps(fin, inf, _mm256_castsi256_ps(big));
  return _mm256_or_ps(r, _mm256_castsi256_ps(sign));
#endif
}
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
/* 4 halves at p as floats */
static inline v128_t bd_load4h(const uint16_t *p, int fmt) {
  v128_t x = wasm_u32x4_load16x4(p);
  if (fmt == BD_HALF_BF16) return wasm_i32x4_shl(x, 16);
  v128_t em = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x7fff)), 13);
  v128_t sign = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x8000)), 16);
  v128_t fin = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
  v128_t inf = wasm_v128_or(em, wasm_i32x4_splat(0x7f800000));
  v128_t big = wasm_i32x4_gt(em, wasm_i32x4_splat((0x7c00 << 13) - 1));
  return wasm_v128_or(wasm_v128_bitselect(inf, fin, big), sign);
}
#endif

/* out[i] = float(h[i]), i < n */
static inline void bd_half_row(const uint16_t *h, float *out, int n, int fmt) {
  int i = 0;
#if defined(__AVX2__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, bd_load8h(h + i, fmt));
#elif defined(__wasm_simd128__)
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, bd_load4h(h + i, fmt));
#endif
  for (; i < n; i++) out[i] = bd_half_to_f32(h[i], fmt);
}

#endif
