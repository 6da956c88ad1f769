/* W8A8 products (the 'w8a8' weights option, src/model/storage.ts): int8 weights with one fp32 scale per row (q8.h)
 * times activations quantized to int8 at run time, integer dot products, fp32 scales at the end — what llama.cpp's
 * Q8_0 x Q8_0 dot does, with one scale per row on both sides instead of one per 32 values.
 *
 *   op(A) row i: s_i = fround(max_p |a_ip| / 127), qa_ip = a_ip / s_i (in double) rounded half away from zero,
 *                clamped to [-127, 127] (src/tensor/int8.ts quantizeRows, the weights' own rule); a row holding a
 *                non-finite value gives a NaN row of C
 *   C_ij = fround(fround((float)dot_ij * fround(alpha * s_i)) * sw_j) + beta * C_ij + bias_j,
 *          dot_ij = sum_p qa_ip * qw_jp (int32, exact: |dot| <= 127 * 127 * k < 2^31 for k <= BD_W8A8_MAX_K)
 *
 * x86-64 CPUs with AVX-512 VNNI (chosen at run time, so the addon still runs on AVX2-only CPUs) do the dot products
 * 64 at a time with vpdpbusd, which multiplies unsigned by signed bytes: the weights enter as qw + 128 (a sign-bit
 * flip) and 128 * sum_p qa_ip is taken off afterwards. WebAssembly widens to int16 for i32x4.dot_i16x8_s; elsewhere
 * (AVX2) a plain integer loop that the compiler vectorises. Every path gives the same integers. */
#include "../kernels.h"
#include "../parallel.h"
#include "scratch.h"
#include <stddef.h>
#include <stdint.h>

#define KALIGN 64   /* quantized rows are zero padded to a multiple of this (one 512-bit load) */
#define COLS 16     /* columns per parallel work item */

typedef struct {
  int m, n, k, kp, ldb, ldc;
  const int8_t *qa;    /* m x kp quantized op(A) rows */
  const float *ra;     /* m: fround(alpha * s_i) (NaN for a non-finite row) */
  const int32_t *asum; /* m: sum_p qa_ip */
  const int8_t *Bq;
  const float *bscale;
  float beta;
  float *C;
  const float *bias;
} w8_ctx;

static inline float finish(const w8_ctx *g, int32_t dot, int i, int j) {
  float x = ((float)dot * g->ra[i]) * g->bscale[j];
  float *c = g->C + (size_t)i * g->ldc + j;
  if (g->beta != 0.0f) x += g->beta * *c;
  if (g->bias) x += g->bias[j];
  return x;
}

/* row x (k values, stride xs) into q (kp bytes, zero padded); returns s (NaN when x holds a non-finite value) */
static float quantize_row(const float *x, size_t xs, int k, int kp, int8_t *q, int32_t *sum) {
  float amax = 0.0f;
  int finite = 1;
  for (int p = 0; p < k; p++) {
    float v = x[p * xs], a = v < 0 ? -v : v;
    finite &= a <= 3.4028234663852886e38f;
    amax = a > amax ? a : amax;
  }
  int32_t s32 = 0;
  float s = amax / 127.0f;
  if (!finite || s == 0.0f) {
    for (int p = 0; p < kp; p++) q[p] = 0;
    *sum = 0;
    return finite ? s : __builtin_nanf("");
  }
  for (int p = 0; p < k; p++) {
    double v = (double)x[p * xs] / (double)s, a = v < 0 ? -v : v;
    double t = (double)(int64_t)a; /* trunc(a); a <= ~127.5 */
    int r = (int)t + (a - t >= 0.5);
    if (r > 127) r = 127;
    q[p] = (int8_t)(v < 0 ? -r : r);
    s32 += q[p];
  }
  for (int p = k; p < kp; p++) q[p] = 0;
  *sum = s32;
  return s;
}

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
/* columns [j0, j1) of C, WebAssembly SIMD: each weight row widened to int16 once per 16 bytes and dotted with 4
 * quantized rows at a time (i32x4.dot_i16x8_s); the same integers as the loop below */
static void cols_wasm(const w8_ctx *g, int j0, int j1) {
  const int k = g->k, k16 = k & ~15, m = g->m;
  for (int j = j0; j < j1; j++) {
    const int8_t *w = g->Bq + (size_t)j * g->ldb;
    for (int i0 = 0; i0 < m; i0 += 4) {
      const int mr = m - i0 < 4 ? m - i0 : 4;
      const int8_t *a[4];
      for (int r = 0; r < 4; r++) a[r] = g->qa + (size_t)(i0 + (r < mr ? r : 0)) * g->kp;
      v128_t acc[4] = {wasm_i32x4_splat(0), wasm_i32x4_splat(0), wasm_i32x4_splat(0), wasm_i32x4_splat(0)};
      for (int p = 0; p < k16; p += 16) {
        const v128_t wv = wasm_v128_load(w + p);
        const v128_t wl = wasm_i16x8_extend_low_i8x16(wv), wh = wasm_i16x8_extend_high_i8x16(wv);
#pragma clang loop unroll(full)
        for (int r = 0; r < 4; r++) {
          const v128_t x = wasm_v128_load(a[r] + p);
          acc[r] = wasm_i32x4_add(acc[r], wasm_i32x4_add(wasm_i32x4_dot_i16x8(wl, wasm_i16x8_extend_low_i8x16(x)),
                                                         wasm_i32x4_dot_i16x8(wh, wasm_i16x8_extend_high_i8x16(x))));
        }
      }
      for (int r = 0; r < mr; r++) {
        int32_t s = wasm_i32x4_extract_lane(acc[r], 0) + wasm_i32x4_extract_lane(acc[r], 1) +
                    wasm_i32x4_extract_lane(acc[r], 2) + wasm_i32x4_extract_lane(acc[r], 3);
        for (int p = k16; p < k; p++) s += (int32_t)a[r][p] * (int32_t)w[p];
        g->C[(size_t)(i0 + r) * g->ldc + j] = finish(g, s, i0 + r, j);
      }
    }
  }
}
#define cols_plain cols_wasm
#else
/* columns [j0, j1) of C, portable: one weight row at a time, dotted with every quantized row (it stays in L1) */
static void cols_plain(const w8_ctx *g, int j0, int j1) {
  for (int j = j0; j < j1; j++) {
    const int8_t *w = g->Bq + (size_t)j * g->ldb;
    for (int i = 0; i < g->m; i++) {
      const int8_t *a = g->qa + (size_t)i * g->kp;
      int32_t s = 0;
      for (int p = 0; p < g->k; p++) s += (int32_t)a[p] * (int32_t)w[p];
      g->C[(size_t)i * g->ldc + j] = finish(g, s, i, j);
    }
  }
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#define BD_W8_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vnni")))

/* the 16 int32 lanes of x summed, 4 vectors at once: [sum x0, sum x1, sum x2, sum x3] */
BD_W8_VNNI static inline __m128i hsum4(__m512i x0, __m512i x1, __m512i x2, __m512i x3) {
  __m256i y0 = _mm256_add_epi32(_mm512_castsi512_si256(x0), _mm512_extracti64x4_epi64(x0, 1));
  __m256i y1 = _mm256_add_epi32(_mm512_castsi512_si256(x1), _mm512_extracti64x4_epi64(x1, 1));
  __m256i y2 = _mm256_add_epi32(_mm512_castsi512_si256(x2), _mm512_extracti64x4_epi64(x2, 1));
  __m256i y3 = _mm256_add_epi32(_mm512_castsi512_si256(x3), _mm512_extracti64x4_epi64(x3, 1));
  __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(y0, y1), _mm256_hadd_epi32(y2, y3));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* columns [j0, j1) of C: 4 weight rows x 4 quantized rows per step, 64 bytes of k per vpdpbusd; a short group
 * repeats its first row or column, whose copies are not stored */
BD_W8_VNNI static void cols_vnni(const w8_ctx *g, int j0, int j1) {
  const int k = g->k, kfull = k & ~63, m = g->m;
  const __mmask64 tail = k > kfull ? (~(__mmask64)0 >> (64 - (k - kfull))) : 0;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (int j = j0; j < j1; j += 4) {
    const int nc = j1 - j < 4 ? j1 - j : 4;
    const int8_t *w[4];
    for (int t = 0; t < 4; t++) w[t] = g->Bq + (size_t)(j + (t < nc ? t : 0)) * g->ldb;
    for (int i0 = 0; i0 < m; i0 += 4) {
      const int mr = m - i0 < 4 ? m - i0 : 4;
      if (mr == 1) { /* a single row (e.g. the logits of one position): no repeated rows */
        const int8_t *a = g->qa + (size_t)i0 * g->kp;
        __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
        for (int p = 0; p < k; p += 64) {
          const __mmask64 in = p < kfull ? ~(__mmask64)0 : tail;
          const __m512i x = _mm512_load_si512(a + p);
          c0 = _mm512_dpbusd_epi32(c0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, w[0] + p), flip), x);
          c1 = _mm512_dpbusd_epi32(c1, _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, w[1] + p), flip), x);
          c2 = _mm512_dpbusd_epi32(c2, _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, w[2] + p), flip), x);
          c3 = _mm512_dpbusd_epi32(c3, _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, w[3] + p), flip), x);
        }
        int32_t d[4];
        _mm_storeu_si128((__m128i *)d, hsum4(c0, c1, c2, c3));
        for (int t = 0; t < nc; t++) /* modulo 2^32, as the vector sums: only the final dot is known to fit */
          g->C[(size_t)i0 * g->ldc + j + t] = finish(g, (int32_t)((uint32_t)d[t] - 128u * (uint32_t)g->asum[i0]), i0, j + t);
        continue;
      }
      const int8_t *a[4];
      for (int r = 0; r < 4; r++) a[r] = g->qa + (size_t)(i0 + (r < mr ? r : 0)) * g->kp;
      __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
              c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
#define BD_W8_STEP(W0, W1, W2, W3)                                                                            \
  {                                                                                                           \
    __m512i w0 = _mm512_xor_si512(W0, flip), w1 = _mm512_xor_si512(W1, flip);                                 \
    __m512i w2 = _mm512_xor_si512(W2, flip), w3 = _mm512_xor_si512(W3, flip), x;                              \
    x = _mm512_load_si512(a[0] + p);                                                                          \
    c00 = _mm512_dpbusd_epi32(c00, w0, x), c01 = _mm512_dpbusd_epi32(c01, w1, x);                             \
    c02 = _mm512_dpbusd_epi32(c02, w2, x), c03 = _mm512_dpbusd_epi32(c03, w3, x);                             \
    x = _mm512_load_si512(a[1] + p);                                                                          \
    c10 = _mm512_dpbusd_epi32(c10, w0, x), c11 = _mm512_dpbusd_epi32(c11, w1, x);                             \
    c12 = _mm512_dpbusd_epi32(c12, w2, x), c13 = _mm512_dpbusd_epi32(c13, w3, x);                             \
    x = _mm512_load_si512(a[2] + p);                                                                          \
    c20 = _mm512_dpbusd_epi32(c20, w0, x), c21 = _mm512_dpbusd_epi32(c21, w1, x);                             \
    c22 = _mm512_dpbusd_epi32(c22, w2, x), c23 = _mm512_dpbusd_epi32(c23, w3, x);                             \
    x = _mm512_load_si512(a[3] + p);                                                                          \
    c30 = _mm512_dpbusd_epi32(c30, w0, x), c31 = _mm512_dpbusd_epi32(c31, w1, x);                             \
    c32 = _mm512_dpbusd_epi32(c32, w2, x), c33 = _mm512_dpbusd_epi32(c33, w3, x);                             \
  }
      for (int p = 0; p < k; p += 64) {
        /* past k: weight bytes read as 0 (128 after the flip) against zero padding */
        const __mmask64 in = p < kfull ? ~(__mmask64)0 : tail;
        BD_W8_STEP(_mm512_maskz_loadu_epi8(in, w[0] + p), _mm512_maskz_loadu_epi8(in, w[1] + p),
                   _mm512_maskz_loadu_epi8(in, w[2] + p), _mm512_maskz_loadu_epi8(in, w[3] + p))
      }
#undef BD_W8_STEP
      __m128i d[4] = {hsum4(c00, c01, c02, c03), hsum4(c10, c11, c12, c13), hsum4(c20, c21, c22, c23),
                      hsum4(c30, c31, c32, c33)};
      for (int r = 0; r < mr; r++) {
        const int i = i0 + r;
        const __m128i dot = _mm_sub_epi32(d[r], _mm_set1_epi32(128 * g->asum[i]));
        float *c = g->C + (size_t)i * g->ldc + j;
        if (nc == 4) { /* finish() on 4 columns */
          __m128 x = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(dot), _mm_set1_ps(g->ra[i])), _mm_loadu_ps(g->bscale + j));
          if (g->beta != 0.0f) x = _mm_add_ps(x, _mm_mul_ps(_mm_set1_ps(g->beta), _mm_loadu_ps(c)));
          if (g->bias) x = _mm_add_ps(x, _mm_loadu_ps(g->bias + j));
          _mm_storeu_ps(c, x);
        } else {
          int32_t v[4];
          _mm_storeu_si128((__m128i *)v, dot);
          for (int t = 0; t < nc; t++) c[t] = finish(g, v[t], i, j + t);
        }
      }
    }
  }
}

/* quantize_row for a contiguous row, 16 values at a time (the same rule, hence the same bytes) */
BD_W8_VNNI static float quantize_row_avx512(const float *x, int k, int kp, int8_t *q, int32_t *sum) {
  const __m512 sign = _mm512_set1_ps(-0.0f), big = _mm512_set1_ps(3.4028234663852886e38f);
  __m512 vmax = _mm512_setzero_ps();
  __mmask16 finite = 0xFFFF;
  for (int p = 0; p < k; p += 16) {
    __mmask16 in = k - p >= 16 ? 0xFFFF : (__mmask16)((1u << (k - p)) - 1);
    __m512 a = _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(in, x + p));
    finite &= _mm512_cmp_ps_mask(a, big, _CMP_LE_OQ) | (__mmask16)~in;
    vmax = _mm512_max_ps(vmax, a);
  }
  float amax = _mm512_reduce_max_ps(vmax), s = amax / 127.0f;
  if (finite != 0xFFFF || s == 0.0f) {
    for (int p = 0; p < kp; p++) q[p] = 0;
    *sum = 0;
    return finite == 0xFFFF ? s : __builtin_nanf("");
  }
  const __m512d vs = _mm512_set1_pd((double)s), half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0),
                lim = _mm512_set1_pd(127.0), dsign = _mm512_set1_pd(-0.0);
  __m512i vsum = _mm512_setzero_si512();
  for (int p = 0; p < kp; p += 16) { /* past k: zeros (the padding) */
    __mmask16 in = k - p >= 16 ? 0xFFFF : k - p <= 0 ? 0 : (__mmask16)((1u << (k - p)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(in, x + p);
    __m256i h[2];
    for (int u = 0; u < 2; u++) {
      __m512d v = _mm512_div_pd(_mm512_cvtps_pd(u ? _mm512_extractf32x8_ps(xv, 1) : _mm512_castps512_ps256(xv)), vs);
      __m512d a = _mm512_andnot_pd(dsign, v);
      __m512d t = _mm512_roundscale_pd(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      t = _mm512_mask_add_pd(t, _mm512_cmp_pd_mask(_mm512_sub_pd(a, t), half, _CMP_GE_OQ), t, one);
      t = _mm512_or_pd(_mm512_min_pd(t, lim), _mm512_and_pd(v, dsign)); /* the sign back (-0 converts to 0) */
      h[u] = _mm512_cvttpd_epi32(t);
    }
    __m512i r = _mm512_inserti64x4(_mm512_castsi256_si512(h[0]), h[1], 1);
    vsum = _mm512_add_epi32(vsum, r);
    _mm_store_si128((__m128i *)(q + p), _mm512_cvtepi32_epi8(r));
  }
  *sum = _mm512_reduce_add_epi32(vsum);
  return s;
}

/* BD3LM_W8A8=portable runs the portable loop on a VNNI CPU too (tests compare the two) */
static int has_vnni(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("BD3LM_W8A8");
    if (e && strcmp(e, "portable") == 0) return v = 0;
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni");
  }
  return v;
}
#else
static int has_vnni(void) { return 0; }
#define cols_vnni cols_plain
#define quantize_row_avx512(x, k, kp, q, sum) quantize_row(x, 1, k, kp, q, sum)
#endif

const char *bd_w8a8_kernel(void) { return has_vnni() ? "avx512-vnni" : "portable"; }

static void cols_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const w8_ctx *g = (const w8_ctx *)ctx;
  int j0 = begin * COLS, j1 = end * COLS < g->n ? end * COLS : g->n;
  if (has_vnni())
    cols_vnni(g, j0, j1);
  else
    cols_plain(g, j0, j1);
}

typedef struct {
  const w8_ctx *g;
  const float *A;
  int lda, transA;
  float alpha;
  float *ra;
  int32_t *asum;
  int8_t *qa;
} quant_ctx;

/* rows [begin, end) of op(A) quantized */
static void quant_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const quant_ctx *c = (const quant_ctx *)ctx;
  const int k = c->g->k, kp = c->g->kp;
  for (int i = begin; i < end; i++) {
    const float *x = c->transA ? c->A + i : c->A + (size_t)i * c->lda;
    int8_t *q = c->qa + (size_t)i * kp;
    c->ra[i] = c->alpha * (!c->transA && has_vnni() ? quantize_row_avx512(x, k, kp, q, &c->asum[i])
                                                    : quantize_row(x, c->transA ? (size_t)c->lda : 1, k, kp, q, &c->asum[i]));
  }
}

void bd_sgemm_w8a8(int transA, int m, int n, int k, float alpha, const float *A, int lda, const int8_t *Bq,
                   const float *scales, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (m <= 0 || n <= 0) return;
  if (k < 0) k = 0;
  const int kp = (k + KALIGN - 1) / KALIGN * KALIGN;
  int slot;
  size_t qbytes = (size_t)m * kp, fbytes = (size_t)m * sizeof(float);
  char *buf = (char *)bd_scratch_get(qbytes + 2 * fbytes, &slot);
  int8_t *qa = (int8_t *)buf;
  float *ra = (float *)(buf + qbytes);
  int32_t *asum = (int32_t *)(buf + qbytes + fbytes);
  w8_ctx g = {m, n, k, kp, ldb, ldc, qa, ra, asum, Bq, scales, beta, C, bias};
  quant_ctx qc = {&g, A, lda, transA, alpha, ra, asum, qa};
  int64_t macs = (int64_t)m * n * (k > 0 ? k : 1);
  /* rows in parallel once there are a few thousand values per thread */
  if (macs >= (1 << 18) && (int64_t)m * k >= 8192)
    bd_parallel_for(m, 4096 / (k + 1) + 1, quant_task, &qc);
  else
    quant_task(&qc, 0, m, 0);
  int nblk = (n + COLS - 1) / COLS;
  int grain = (int)(65536 / ((int64_t)m * (k > 0 ? k : 1) * COLS) + 1);
  if (macs >= (1 << 18))
    bd_parallel_for(nblk, grain, cols_task, &g);
  else
    cols_task(&g, 0, nblk, 0);
  bd_scratch_put(buf, slot);
}
