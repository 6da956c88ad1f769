/* Portable SIMD via GCC/clang vector extensions: one source for AVX2 (8 lanes), wasm SIMD128 and plain x86-64 /
 * other targets (4 lanes). Float reductions are written with explicit vector accumulators because compilers will
 * not reassociate them (and so not vectorise them) without -ffast-math. No libc: memcpy is the builtin. */
#ifndef BD_VEC_H
#define BD_VEC_H
#include <stdint.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#if defined(__AVX2__)
#define BD_VL 8
#else
#define BD_VL 4
#endif

typedef float vf __attribute__((vector_size(BD_VL * 4)));
typedef int32_t vi __attribute__((vector_size(BD_VL * 4)));

static inline vf vload(const float *p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline void vstore(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
static inline vf vset1(float x) { return (vf){0} + x; }
/* lanes i < n from p, the rest `fill` */
static inline vf vload_part(const float *p, int n, float fill) {
  vf v = vset1(fill);
  for (int i = 0; i < n; i++) v[i] = p[i];
  return v;
}
static inline void vstore_part(float *p, vf v, int n) {
  for (int i = 0; i < n; i++) p[i] = v[i];
}
/* m ? a : b, m from a vector comparison (all-ones / zero lanes) */
static inline vf vsel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline vf vmax(vf a, vf b) { return vsel(a > b, a, b); }

static inline float vhsum(vf v) {
  float s = 0;
  for (int i = 0; i < BD_VL; i++) s += v[i];
  return s;
}
static inline float vhmax(vf v) {
  float m = v[0];
  for (int i = 1; i < BD_VL; i++) m = v[i] > m ? v[i] : m;
  return m;
}

/* dst[0..3] = horizontal sums of a, b, c, d */
static inline void vhsum4(vf a, vf b, vf c, vf d, float *dst) {
#if defined(__AVX2__)
  __m256 ab = _mm256_hadd_ps((__m256)a, (__m256)b), cd = _mm256_hadd_ps((__m256)c, (__m256)d);
  __m256 s = _mm256_hadd_ps(ab, cd); /* [a b c d | a b c d] partial halves */
  _mm_storeu_ps(dst, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
#elif BD_VL == 4
  vf ab = __builtin_shufflevector(a, b, 0, 1, 4, 5) + __builtin_shufflevector(a, b, 2, 3, 6, 7);
  vf cd = __builtin_shufflevector(c, d, 0, 1, 4, 5) + __builtin_shufflevector(c, d, 2, 3, 6, 7);
  vstore(dst, __builtin_shufflevector(ab, cd, 0, 2, 4, 6) + __builtin_shufflevector(ab, cd, 1, 3, 5, 7));
#else
  dst[0] = vhsum(a), dst[1] = vhsum(b), dst[2] = vhsum(c), dst[3] = vhsum(d);
#endif
}

#endif
