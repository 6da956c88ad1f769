/* The project's own fp32 GEMM (BLIS / llm.c style), one source for the native addon (AVX2 + FMA) and the
 * WebAssembly build (SIMD128, optionally relaxed-SIMD FMA), with a scalar fallback.
 *
 *   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] + bias      (row-major; see kernels.h)
 *
 * Structure: for each block of up to MBIG rows, NC columns and KC depth, op(A) is packed into MR-row panels
 * (alpha folded in) and op(B) into NR-column panels (both zero padded), packing runs in parallel, then the
 * output block is cut into MC x NT tiles computed in parallel by a register-blocked MR x NR micro-kernel.
 * Small products and those with m <= MC use a single fork-join instead: every tile packs its own panels
 * (op(A) is packed once up front when m <= MC). The first depth block applies beta and bias, later ones
 * accumulate. Small problems and batches of small
 * matrices run whole items serially on each thread; a skinny op(A) (m <= SKINNY_M, or m <= SKINNY_TB_M with
 * transB) skips packing.
 * Packing buffers come from the scratch cache (scratch.h).
 * A stored B (transB only): half precision (bd_sgemm_bhalf) or int8 with per-row scales (bd_sgemm_bq8), is
 * widened to fp32 where B is read: in pack_b (a panel at a time) and in the skinny path's rows, so B is still read
 * from memory once per product when op(A) has few rows. */
#include "../kernels.h"
#include "../parallel.h"
#include "../half.h"
#include "../q8.h"
#include "scratch.h"
#include <stddef.h>
#include <stdint.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define BD_GEMM_AVX2 1
#define MR 6
#define NR 16
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define BD_GEMM_WASM 1
/* 4x8 (8 accumulators) and 2x16 measured best in V8 on x64 (16 xmm registers, one of them scratch) */
#ifndef BD_WASM_MR
#define BD_WASM_MR 4
#endif
#ifndef BD_WASM_NR
#define BD_WASM_NR 8
#endif
#define MR BD_WASM_MR
#define NR BD_WASM_NR
#else
#define BD_GEMM_SCALAR 1
#define MR 4
#define NR 4
#endif

#ifndef KC
#define KC 256                 /* depth block: an MR x KC A panel + a KC x NR B panel stay in L1 */
#endif
#ifndef MC
#define MC (MR * 16)           /* rows per compute tile: MC x KC packed A stays in L2 */
#endif
#define NT (NR * 16)           /* columns per compute tile */
#define NC (NR * 256)          /* columns packed at once (KC x NC packed B, 4 MB for NR=16) */
#define MBIG (MR * 342)        /* rows packed at once (bounds the packed A buffer) */
#define FUSED_MAX_MACS (1 << 23) /* parallel products up to this size use one fork-join (tiles pack privately) */
#define SKINNY_M 4             /* m <= this: no packing (matrix-vector-like products) */
#if BD_GEMM_AVX2
#define SKINNY_TB_M 8          /* transB, m <= this: no packing either (B's rows are contiguous in k) */
#else
#define SKINNY_TB_M SKINNY_M
#endif

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* bd_num_threads(), asked once: runtime_posix.c's version takes the submit lock, which a caller inside a
 * parallel work item (a nested sgemm) would wait on forever (nthreads() must first run outside one) */
static int g_nthreads = 0;
static int nthreads(void) {
  int t = __atomic_load_n(&g_nthreads, __ATOMIC_RELAXED);
  if (t <= 0) {
    t = bd_num_threads();
    __atomic_store_n(&g_nthreads, t, __ATOMIC_RELAXED);
  }
  return t;
}

/* ------------------------------------------------------------------------------------------------------ */
/* micro-kernels: acc = sum_p a[p*MR + r] * b[p*NR + j] over kc, then                                       */
/*   first:  c = acc + (beta != 0 ? beta * c : 0) + (bias ? bias[j] : 0)                                   */
/*   else:   c += acc                                                                                      */
/* a and b are packed, zero padded panels; the whole MR x NR tile of c is written.                          */

#if BD_GEMM_AVX2
static inline __m256 store_val(__m256 acc, const float *c, const float *bias, float beta, int first) {
  if (!first) return _mm256_add_ps(acc, _mm256_loadu_ps(c));
  if (beta != 0.0f) acc = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), acc);
  if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias));
  return acc;
}

/* edge tiles: only lanes in `mask` are read or written */
static inline void store_masked(__m256 acc, float *c, const float *bias, float beta, int first, __m256i mask) {
  if (!first)
    acc = _mm256_add_ps(acc, _mm256_maskload_ps(c, mask));
  else {
    if (beta != 0.0f) acc = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, mask), acc);
    if (bias) acc = _mm256_add_ps(acc, _mm256_maskload_ps(bias, mask));
  }
  _mm256_maskstore_ps(c, mask, acc);
}

/* mr x nr (<= MR x NR) corner of the tile is stored */
static void ukernel_mn(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc, int mr,
                       int nr, const float *bias, float beta, int first) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int r = 0; r < MR; r++) _mm_prefetch((const char *)(c + (size_t)r * ldc), _MM_HINT_T0);
#define BD_STEP(P)                                                                                            \
  {                                                                                                           \
    __m256 b0 = _mm256_load_ps(b + (P) * 16), b1 = _mm256_load_ps(b + (P) * 16 + 8), av;                    \
    av = _mm256_broadcast_ss(a + (P) * 6 + 0);                                                               \
    c00 = _mm256_fmadd_ps(av, b0, c00);                                                                       \
    c01 = _mm256_fmadd_ps(av, b1, c01);                                                                       \
    av = _mm256_broadcast_ss(a + (P) * 6 + 1);                                                               \
    c10 = _mm256_fmadd_ps(av, b0, c10);                                                                       \
    c11 = _mm256_fmadd_ps(av, b1, c11);                                                                       \
    av = _mm256_broadcast_ss(a + (P) * 6 + 2);                                                               \
    c20 = _mm256_fmadd_ps(av, b0, c20);                                                                       \
    c21 = _mm256_fmadd_ps(av, b1, c21);                                                                       \
    av = _mm256_broadcast_ss(a + (P) * 6 + 3);                                                               \
    c30 = _mm256_fmadd_ps(av, b0, c30);                                                                       \
    c31 = _mm256_fmadd_ps(av, b1, c31);                                                                       \
    av = _mm256_broadcast_ss(a + (P) * 6 + 4);                                                               \
    c40 = _mm256_fmadd_ps(av, b0, c40);                                                                       \
    c41 = _mm256_fmadd_ps(av, b1, c41);                                                                       \
    av = _mm256_broadcast_ss(a + (P) * 6 + 5);                                                               \
    c50 = _mm256_fmadd_ps(av, b0, c50);                                                                       \
    c51 = _mm256_fmadd_ps(av, b1, c51);                                                                       \
  }
  int p = 0;
  for (; p + 4 <= kc; p += 4) {
    _mm_prefetch((const char *)(b + 16 * 8), _MM_HINT_T0);
    _mm_prefetch((const char *)(b + 16 * 9), _MM_HINT_T0);
    BD_STEP(0) BD_STEP(1) BD_STEP(2) BD_STEP(3)
    a += 4 * 6;
    b += 4 * 16;
  }
  for (; p < kc; p++) {
    BD_STEP(0)
    a += 6;
    b += 16;
  }
#undef BD_STEP
  const float *b8 = bias ? bias + 8 : NULL;
  if (mr == MR && nr == NR) {
#define BD_ROW(R, X0, X1)                                                                                     \
  {                                                                                                           \
    float *cr = c + (size_t)(R) * ldc;                                                                        \
    _mm256_storeu_ps(cr, store_val(X0, cr, bias, beta, first));                                               \
    _mm256_storeu_ps(cr + 8, store_val(X1, cr + 8, b8, beta, first));                                         \
  }
    BD_ROW(0, c00, c01) BD_ROW(1, c10, c11) BD_ROW(2, c20, c21) BD_ROW(3, c30, c31) BD_ROW(4, c40, c41)
    BD_ROW(5, c50, c51)
#undef BD_ROW
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
  __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
#define BD_ROW(R, X0, X1)                                                                                     \
  if ((R) < mr) {                                                                                             \
    float *cr = c + (size_t)(R) * ldc;                                                                        \
    store_masked(X0, cr, bias, beta, first, m0);                                                              \
    if (nr > 8) store_masked(X1, cr + 8, b8, beta, first, m1);                                                \
  }
  BD_ROW(0, c00, c01) BD_ROW(1, c10, c11) BD_ROW(2, c20, c21) BD_ROW(3, c30, c31) BD_ROW(4, c40, c41)
  BD_ROW(5, c50, c51)
#undef BD_ROW
}

static inline void ukernel(int kc, const float *a, const float *b, float *c, int ldc, const float *bias, float beta,
                           int first) {
  ukernel_mn(kc, a, b, c, ldc, MR, NR, bias, beta, first);
}

#elif BD_GEMM_WASM
#ifdef __wasm_relaxed_simd__
/* a*b + c, fused where the engine has FMA (clang-16's header lacks wasm_f32x4_relaxed_madd) */
typedef float bd_f32x4 __attribute__((vector_size(16)));
#define VFMA(a, b, c) ((v128_t)__builtin_wasm_relaxed_madd_f32x4((bd_f32x4)(a), (bd_f32x4)(b), (bd_f32x4)(c)))
#else
#define VFMA(a, b, c) wasm_f32x4_add(wasm_f32x4_mul((a), (b)), (c))
#endif
#define NV (NR / 4)
static void ukernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc,
                    const float *bias, float beta, int first) {
  v128_t acc[MR][NV];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_splat(0.0f);
  /* no unrolling: V8 allocates registers worse in unrolled bodies (measured 25-35 vs ~49 GFLOP/s) */
#pragma clang loop unroll(disable)
  for (int p = 0; p < kc; p++) {
    v128_t bv[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) bv[v] = wasm_v128_load(b + 4 * v);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
      v128_t av = wasm_v128_load32_splat(a + r);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }
  v128_t vbeta = wasm_f32x4_splat(beta);
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++) {
    float *cr = c + (size_t)r * ldc;
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) {
      v128_t x = acc[r][v];
      if (!first) {
        x = wasm_f32x4_add(x, wasm_v128_load(cr + 4 * v));
      } else {
        if (beta != 0.0f) x = wasm_f32x4_add(x, wasm_f32x4_mul(vbeta, wasm_v128_load(cr + 4 * v)));
        if (bias) x = wasm_f32x4_add(x, wasm_v128_load(bias + 4 * v));
      }
      wasm_v128_store(cr + 4 * v, x);
    }
  }
}

#else /* scalar */
static void ukernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc,
                    const float *bias, float beta, int first) {
  float acc[MR][NR];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NR; j++) acc[r][j] = 0.0f;
  for (int p = 0; p < kc; p++) {
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; r++) {
    float *cr = c + (size_t)r * ldc;
    for (int j = 0; j < NR; j++) {
      float x = acc[r][j];
      if (!first) x += cr[j];
      else {
        if (beta != 0.0f) x += beta * cr[j];
        if (bias) x += bias[j];
      }
      cr[j] = x;
    }
  }
}
#endif

#if BD_GEMM_AVX2
#define ukernel_edge(kc, a, b, c, ldc, mr, nr, bias, beta, first) \
  ukernel_mn(kc, a, b, c, ldc, mr, nr, bias, beta, first)
#else
/* edge tiles: compute the full tile into a buffer, then update the mr x nr corner of c */
static void ukernel_edge(int kc, const float *a, const float *b, float *c, int ldc, int mr, int nr,
                         const float *bias, float beta, int first) {
  float tmp[MR * NR] __attribute__((aligned(64)));
  ukernel(kc, a, b, tmp, NR, NULL, 0.0f, 1);
  for (int r = 0; r < mr; r++) {
    float *cr = c + (size_t)r * ldc;
    const float *t = tmp + r * NR;
    if (!first)
      for (int j = 0; j < nr; j++) cr[j] += t[j];
    else
      for (int j = 0; j < nr; j++)
        cr[j] = t[j] + (beta != 0.0f ? beta * cr[j] : 0.0f) + (bias ? bias[j] : 0.0f);
  }
}
#endif

/* ------------------------------------------------------------------------------------------------------ */
/* problem description and packing                                                                        */

typedef struct {
  int transA, transB, m, n, k;
  float alpha, beta;
  const float *A, *B, *bias;
  float *C;
  int lda, ldb, ldc;
  const uint16_t *Bh; /* non-NULL: B is this half-precision matrix (transB), format bfmt (half.h) */
  int bfmt;
  const int8_t *Bq;   /* non-NULL: B is this int8 matrix (transB), row j times bscale[j] (q8.h) */
  const float *bscale;
} gemm_p;

/* a stored B (half or int8), read through the helpers below */
static inline int b_stored(const gemm_p *g) { return g->Bh || g->Bq; }

/* row j of B (k values), widened to fp32 into out */
static inline void b_row(const gemm_p *g, int j, float *out) {
  size_t o = (size_t)j * g->ldb;
  if (g->Bq)
    bd_q8_row(g->Bq + o, g->bscale[j], out, g->k);
  else
    bd_half_row(g->Bh + o, out, g->k, g->bfmt);
}

static inline float b_at(const gemm_p *g, int j, int p) {
  size_t o = (size_t)j * g->ldb + p;
  return g->Bq ? bd_q8_to_f32(g->Bq[o], g->bscale[j]) : bd_half_to_f32(g->Bh[o], g->bfmt);
}

#if BD_GEMM_AVX2
/* B[j, p .. p + 8) */
static inline __m256 b_load8(const gemm_p *g, int j, int p) {
  size_t o = (size_t)j * g->ldb + p;
  return g->Bq ? bd_load8q(g->Bq + o, g->bscale[j]) : bd_load8h(g->Bh + o, g->bfmt);
}
#elif BD_GEMM_WASM
/* B[j, p .. p + 4) */
static inline v128_t b_load4(const gemm_p *g, int j, int p) {
  size_t o = (size_t)j * g->ldb + p;
  return g->Bq ? bd_load4q(g->Bq + o, g->bscale[j]) : bd_load4h(g->Bh + o, g->bfmt);
}
#endif

/* one (row chunk, column block, depth block) step of one product */
typedef struct {
  const gemm_p *g;
  int i0, mb;      /* rows [i0, i0 + mb) */
  int j0, nb;      /* cols [j0, j0 + nb) */
  int p0, kc;      /* depth [p0, p0 + kc) */
  int first;
  float *pa, *pb;  /* packed panels */
  int nAp, nBp;    /* panel counts */
  int nt;          /* tile width (multiple of NR) */
  int tilesN, nTiles;
} gemm_step;

#if BD_GEMM_WASM
/* 4x4 transpose of rows r0..r3 into dst[q' * dld] */
static inline void tr4x4r(v128_t r0, v128_t r1, v128_t r2, v128_t r3, float *dst, int dld) {
  v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
  v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
  wasm_v128_store(dst, wasm_i64x2_shuffle(t0, t2, 0, 2));
  wasm_v128_store(dst + dld, wasm_i64x2_shuffle(t0, t2, 1, 3));
  wasm_v128_store(dst + 2 * dld, wasm_i64x2_shuffle(t1, t3, 0, 2));
  wasm_v128_store(dst + 3 * dld, wasm_i64x2_shuffle(t1, t3, 1, 3));
}

/* 4x4 transpose of rows src[q*ld] (q < 4), scaled by al, into dst[q' * dld] */
static inline void tr4x4(const float *src, size_t ld, float *dst, int dld, v128_t al) {
  tr4x4r(wasm_f32x4_mul(al, wasm_v128_load(src)), wasm_f32x4_mul(al, wasm_v128_load(src + ld)),
         wasm_f32x4_mul(al, wasm_v128_load(src + 2 * ld)), wasm_f32x4_mul(al, wasm_v128_load(src + 3 * ld)), dst,
         dld);
}
#endif

/* panel ip of op(A) rows [i0 + ip*MR, ...), depth [p0, p0 + kc): out[p*MR + r] */
static void pack_a(const gemm_step *s, int ip) {
  const gemm_p *g = s->g;
  int r0 = s->i0 + ip * MR, mr = MIN(MR, s->i0 + s->mb - r0), kc = s->kc;
  float *out = s->pa + (size_t)ip * MR * kc;
  float al = g->alpha;
  if (!g->transA) {
#if BD_GEMM_AVX2
    if (mr == MR && kc >= 16) {
      /* 8x8 transposes of rows r0..r5 (+ row 5 twice); each transposed row is stored 8 wide at a stride of 6,
       * the two extra lanes are overwritten by the next store. The last 8 columns go the scalar way so that
       * nothing is written past this panel. */
      const float *src = g->A + (size_t)r0 * g->lda + s->p0;
      size_t lda = (size_t)g->lda;
      __m256 va = _mm256_set1_ps(al);
      int pend = ((kc - 8) & ~7);
      for (int p = 0; p < pend; p += 8) {
        const float *q = src + p;
        __m256 x0 = _mm256_mul_ps(va, _mm256_loadu_ps(q)), x1 = _mm256_mul_ps(va, _mm256_loadu_ps(q + lda));
        __m256 x2 = _mm256_mul_ps(va, _mm256_loadu_ps(q + 2 * lda)),
               x3 = _mm256_mul_ps(va, _mm256_loadu_ps(q + 3 * lda));
        __m256 x4 = _mm256_mul_ps(va, _mm256_loadu_ps(q + 4 * lda)),
               x5 = _mm256_mul_ps(va, _mm256_loadu_ps(q + 5 * lda));
        __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 u4 = _mm256_shuffle_ps(t4, t4, 0x44), u5 = _mm256_shuffle_ps(t4, t4, 0xEE);
        __m256 u6 = _mm256_shuffle_ps(t5, t5, 0x44), u7 = _mm256_shuffle_ps(t5, t5, 0xEE);
        float *o = out + p * MR;
        _mm256_storeu_ps(o + 0 * MR, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(o + 1 * MR, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(o + 2 * MR, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(o + 3 * MR, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(o + 4 * MR, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(o + 5 * MR, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(o + 6 * MR, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(o + 7 * MR, _mm256_permute2f128_ps(u3, u7, 0x31));
      }
      for (int r = 0; r < MR; r++)
        for (int p = pend; p < kc; p++) out[p * MR + r] = al * src[r * lda + p];
      return;
    }
#endif
#if BD_GEMM_WASM && MR == 4
    if (mr == MR) {
      const float *src = g->A + (size_t)r0 * g->lda + s->p0;
      int pk = kc & ~3;
      v128_t va = wasm_f32x4_splat(al);
      for (int p = 0; p < pk; p += 4) tr4x4(src + p, (size_t)g->lda, out + p * MR, MR, va);
      for (int r = 0; r < MR; r++)
        for (int p = pk; p < kc; p++) out[p * MR + r] = al * src[(size_t)r * g->lda + p];
      return;
    }
#endif
    for (int r = 0; r < mr; r++) {
      const float *src = g->A + (size_t)(r0 + r) * g->lda + s->p0;
      if (al == 1.0f)
        for (int p = 0; p < kc; p++) out[p * MR + r] = src[p];
      else
        for (int p = 0; p < kc; p++) out[p * MR + r] = al * src[p];
    }
    for (int r = mr; r < MR; r++)
      for (int p = 0; p < kc; p++) out[p * MR + r] = 0.0f;
  } else {
    for (int p = 0; p < kc; p++) {
      const float *src = g->A + (size_t)(s->p0 + p) * g->lda + r0;
      float *o = out + p * MR;
      int r = 0;
      for (; r < mr; r++) o[r] = al * src[r];
      for (; r < MR; r++) o[r] = 0.0f;
    }
  }
}

#if BD_GEMM_AVX2
/* 8x8 transpose of rows r0..r7 into dst[q' * dld] */
static inline void tr8x8r(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 r6, __m256 r7,
                          float *dst, int dld) {
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * dld, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * dld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * dld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * dld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * dld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * dld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * dld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * dld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* 8x8 transpose of rows src[q*ld], q < 8 into dst[q' * dld] */
static inline void tr8x8(const float *src, size_t ld, float *dst, int dld) {
  tr8x8r(_mm256_loadu_ps(src), _mm256_loadu_ps(src + ld), _mm256_loadu_ps(src + 2 * ld),
         _mm256_loadu_ps(src + 3 * ld), _mm256_loadu_ps(src + 4 * ld), _mm256_loadu_ps(src + 5 * ld),
         _mm256_loadu_ps(src + 6 * ld), _mm256_loadu_ps(src + 7 * ld), dst, dld);
}
#endif


/* panel jp of op(B) cols [j0 + jp*NR, ...), depth [p0, p0 + kc): out[p*NR + j] */
static void pack_b(const gemm_step *s, int jp) {
  const gemm_p *g = s->g;
  int c0 = s->j0 + jp * NR, nr = MIN(NR, s->j0 + s->nb - c0), kc = s->kc;
  float *out = s->pb + (size_t)jp * NR * kc;
  if (!g->transB) {
    for (int p = 0; p < kc; p++) {
      const float *src = g->B + (size_t)(s->p0 + p) * g->ldb + c0;
      float *o = out + p * NR;
      if (nr == NR) {
#if BD_GEMM_AVX2
        _mm256_store_ps(o, _mm256_loadu_ps(src));
        _mm256_store_ps(o + 8, _mm256_loadu_ps(src + 8));
#else
        __builtin_memcpy(o, src, NR * sizeof(float));
#endif
      } else {
        int j = 0;
        for (; j < nr; j++) o[j] = src[j];
        for (; j < NR; j++) o[j] = 0.0f;
      }
    }
  } else if (b_stored(g)) {
    /* rows c0 + j of the stored B, depth p0 + p, widened as they are transposed into the panel */
    const int p0 = s->p0;
    int j = 0;
#if BD_GEMM_AVX2
    int pk = kc & ~7;
    for (; j + 8 <= nr; j += 8) {
      const int r = c0 + j;
      for (int p = 0; p < pk; p += 8)
        tr8x8r(b_load8(g, r, p0 + p), b_load8(g, r + 1, p0 + p), b_load8(g, r + 2, p0 + p),
               b_load8(g, r + 3, p0 + p), b_load8(g, r + 4, p0 + p), b_load8(g, r + 5, p0 + p),
               b_load8(g, r + 6, p0 + p), b_load8(g, r + 7, p0 + p), out + p * NR + j, NR);
    }
#elif BD_GEMM_WASM
    int pk = kc & ~3;
    for (; j + 4 <= nr; j += 4) {
      const int r = c0 + j;
      for (int p = 0; p < pk; p += 4)
        tr4x4r(b_load4(g, r, p0 + p), b_load4(g, r + 1, p0 + p), b_load4(g, r + 2, p0 + p), b_load4(g, r + 3, p0 + p),
               out + p * NR + j, NR);
    }
#else
    int pk = 0;
#endif
    for (int jj = 0; jj < j; jj++)
      for (int p = pk; p < kc; p++) out[p * NR + jj] = b_at(g, c0 + jj, p0 + p);
    for (; j < nr; j++)
      for (int p = 0; p < kc; p++) out[p * NR + j] = b_at(g, c0 + j, p0 + p);
    for (; j < NR; j++)
      for (int p = 0; p < kc; p++) out[p * NR + j] = 0.0f;
  } else {
    const float *src = g->B + (size_t)c0 * g->ldb + s->p0;
    size_t ldb = (size_t)g->ldb;
    int j = 0;
#if BD_GEMM_AVX2
    int pk = kc & ~7;
    for (; j + 8 <= nr; j += 8)
      for (int p = 0; p < pk; p += 8) tr8x8(src + j * ldb + p, ldb, out + p * NR + j, NR);
    for (int jj = 0; jj < j; jj++)
      for (int p = pk; p < kc; p++) out[p * NR + jj] = src[jj * ldb + p];
#endif
#if BD_GEMM_WASM
    {
      int pk = kc & ~3;
      v128_t one = wasm_f32x4_splat(1.0f);
      for (; j + 4 <= nr; j += 4)
        for (int p = 0; p < pk; p += 4) tr4x4(src + j * ldb + p, ldb, out + p * NR + j, NR, one);
      for (int jj = 0; jj < j; jj++)
        for (int p = pk; p < kc; p++) out[p * NR + jj] = src[jj * ldb + p];
    }
#endif
    for (; j < nr; j++)
      for (int p = 0; p < kc; p++) out[p * NR + j] = src[j * ldb + p];
    for (; j < NR; j++)
      for (int p = 0; p < kc; p++) out[p * NR + j] = 0.0f;
  }
}

static void pack_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const gemm_step *s = (const gemm_step *)ctx;
  for (int t = begin; t < end; t++) {
    if (t < s->nAp)
      pack_a(s, t);
    else
      pack_b(s, t - s->nAp);
  }
}

static void compute_tile(const gemm_step *s, int t) {
  const gemm_p *g = s->g;
  int ti = t / s->tilesN, tj = t - ti * s->tilesN;
  int rb = ti * MC, re = MIN(rb + MC, s->mb);
  int cb = tj * s->nt, ce = MIN(cb + s->nt, s->nb);
  int kc = s->kc;
  for (int jc = cb; jc < ce; jc += NR) {
    int nr = MIN(NR, ce - jc);
    const float *pb = s->pb + (size_t)(jc / NR) * NR * kc;
    const float *bias = (s->first && g->bias) ? g->bias + s->j0 + jc : NULL;
    for (int ir = rb; ir < re; ir += MR) {
      int mr = MIN(MR, re - ir);
      const float *pa = s->pa + (size_t)(ir / MR) * MR * kc;
      float *c = g->C + (size_t)(s->i0 + ir) * g->ldc + s->j0 + jc;
      if (mr == MR && nr == NR)
        ukernel(kc, pa, pb, c, g->ldc, bias, g->beta, s->first);
      else
        ukernel_edge(kc, pa, pb, c, g->ldc, mr, nr, bias, g->beta, s->first);
    }
  }
}

static void compute_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const gemm_step *s = (const gemm_step *)ctx;
  for (int t = begin; t < end; t++) compute_tile(s, t);
}

/* C = beta*C + bias over rows [r0, r1) (k == 0 or alpha == 0) */
static void scale_rows(const gemm_p *g, int r0, int r1) {
  for (int i = r0; i < r1; i++) {
    float *c = g->C + (size_t)i * g->ldc;
    for (int j = 0; j < g->n; j++)
      c[j] = (g->beta != 0.0f ? g->beta * c[j] : 0.0f) + (g->bias ? g->bias[j] : 0.0f);
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* skinny op(A): m <= SKINNY_M rows, no packing; parallel over columns                                     */

static inline float finish(const gemm_p *g, float acc, float *c, int j) {
  float x = g->alpha * acc;
  if (g->beta != 0.0f) x += g->beta * *c;
  if (g->bias) x += g->bias[j];
  return x;
}

static inline float a_at(const gemm_p *g, int i, int p) {
  return g->transA ? g->A[(size_t)p * g->lda + i] : g->A[(size_t)i * g->lda + p];
}

/* dot products of op(A) rows (m <= 4) with B rows j (transB): contiguous in p on both sides; a stored B row is
 * widened into brow (k floats) first */
static void skinny_tb(const gemm_p *g, int j0, int j1, float *arow /* m x k, contiguous */, float *brow) {
  int m = g->m, k = g->k;
  for (int j = j0; j < j1; j++) {
    const float *b = brow;
    if (b_stored(g))
      b_row(g, j, brow);
    else
      b = g->B + (size_t)j * g->ldb;
    for (int i = 0; i < m; i++) {
      const float *a = arow + (size_t)i * k;
      int p = 0;
      float acc;
#if BD_GEMM_AVX2
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
             s3 = _mm256_setzero_ps();
      for (; p + 32 <= k; p += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 8), _mm256_loadu_ps(b + p + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 16), _mm256_loadu_ps(b + p + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 24), _mm256_loadu_ps(b + p + 24), s3);
      }
      for (; p + 8 <= k; p += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s0);
      __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      acc = _mm_cvtss_f32(h);
#elif BD_GEMM_WASM
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
      for (; p + 16 <= k; p += 16) {
        s0 = VFMA(wasm_v128_load(a + p), wasm_v128_load(b + p), s0);
        s1 = VFMA(wasm_v128_load(a + p + 4), wasm_v128_load(b + p + 4), s1);
        s2 = VFMA(wasm_v128_load(a + p + 8), wasm_v128_load(b + p + 8), s2);
        s3 = VFMA(wasm_v128_load(a + p + 12), wasm_v128_load(b + p + 12), s3);
      }
      for (; p + 4 <= k; p += 4) s0 = VFMA(wasm_v128_load(a + p), wasm_v128_load(b + p), s0);
      v128_t s = wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3));
      acc = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
            wasm_f32x4_extract_lane(s, 3);
#else
      acc = 0.0f;
#endif
      for (; p < k; p++) acc += a[p] * b[p];
      float *c = g->C + (size_t)i * g->ldc + j;
      *c = finish(g, acc, c, j);
    }
  }
}

#if BD_GEMM_AVX2
/* Dot products of 4 rows of op(A) (a[r]) with 2 rows of B (b0, b1), reduced into one vector
 * [r0.b0 r0.b1 r1.b0 r1.b1 r2.b0 r2.b1 r3.b0 r3.b1]; k's tail is read through a mask. */
static inline __m256 dots4x2(const float *const a[4], const float *b0, const float *b1, int k) {
  __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
  int p = 0;
#define BD_DOTS(LOAD)                                                                                          \
  {                                                                                                            \
    __m256 w0 = LOAD(b0), w1 = LOAD(b1), x;                                                                    \
    x = LOAD(a[0]), s00 = _mm256_fmadd_ps(x, w0, s00), s01 = _mm256_fmadd_ps(x, w1, s01);                      \
    x = LOAD(a[1]), s10 = _mm256_fmadd_ps(x, w0, s10), s11 = _mm256_fmadd_ps(x, w1, s11);                      \
    x = LOAD(a[2]), s20 = _mm256_fmadd_ps(x, w0, s20), s21 = _mm256_fmadd_ps(x, w1, s21);                      \
    x = LOAD(a[3]), s30 = _mm256_fmadd_ps(x, w0, s30), s31 = _mm256_fmadd_ps(x, w1, s31);                      \
  }
#define BD_FULL(q) _mm256_loadu_ps((q) + p)
  for (; p + 8 <= k; p += 8) BD_DOTS(BD_FULL)
  if (p < k) {
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(k - p), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#define BD_TAIL(q) _mm256_maskload_ps((q) + p, tail)
    BD_DOTS(BD_TAIL)
#undef BD_TAIL
  }
#undef BD_FULL
#undef BD_DOTS
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(s00, s01), _mm256_hadd_ps(s10, s11));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(s20, s21), _mm256_hadd_ps(s30, s31));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* transB, SKINNY_M < m <= SKINNY_TB_M: two rows of B at a time are read from memory once and stay in L1 while
 * each group of 4 rows of op(A) (arow, m x k, contiguous; a short group repeats its first row) is dotted with
 * them. Below a whole 6-row panel the packed kernel computes padding rows (half its work at m = 8) and packs B
 * besides. brow: 2k floats for widening stored rows. */
static void skinny_tb_groups(const gemm_p *g, int j0, int j1, const float *arow, float *brow) {
  const int m = g->m, k = g->k;
  for (int j = j0; j < j1; j += 2) {
    const int nc = j + 1 < j1 ? 2 : 1; /* a last single row is dotted twice, the copy not stored */
    const float *b0 = brow;
    if (b_stored(g)) {
      b_row(g, j, brow);
      if (nc == 2) b_row(g, j + 1, brow + k);
    } else
      b0 = g->B + (size_t)j * g->ldb;
    const float *b1 = nc == 2 ? b0 + (b_stored(g) ? (size_t)k : (size_t)g->ldb) : b0;
    if (!b_stored(g) && j + 3 < j1) /* the next two rows, a line (16 floats) at a time, while these are computed */
      for (int p = 0; p < k; p += 16) {
        _mm_prefetch((const char *)(g->B + (size_t)(j + 2) * g->ldb + p), _MM_HINT_T0);
        _mm_prefetch((const char *)(g->B + (size_t)(j + 3) * g->ldb + p), _MM_HINT_T0);
      }
    for (int i0 = 0; i0 < m; i0 += 4) {
      const int mr = m - i0 < 4 ? m - i0 : 4;
      const float *a[4];
      for (int r = 0; r < 4; r++) a[r] = arow + (size_t)(i0 + (r < mr ? r : 0)) * k;
      float d[8];
      _mm256_storeu_ps(d, dots4x2(a, b0, b1, k));
      for (int r = 0; r < mr; r++)
        for (int c = 0; c < nc; c++) {
          float *cp = g->C + (size_t)(i0 + r) * g->ldc + j + c;
          *cp = finish(g, d[2 * r + c], cp, j + c);
        }
    }
  }
}
#endif

/* op(B) not transposed: c[i, j0:j1] = sum_p a[i,p] * B[p, j0:j1], accumulated in a small local buffer */
#define SK_NB 512
static void skinny_nb(const gemm_p *g, int j0, int j1, float *arow) {
  int m = g->m, k = g->k;
  float acc[SKINNY_M * SK_NB] __attribute__((aligned(64)));
  for (int jb = j0; jb < j1; jb += SK_NB) {
    int nb = MIN(SK_NB, j1 - jb);
    for (int x = 0; x < m * SK_NB; x++) acc[x] = 0.0f;
    for (int p = 0; p < k; p++) {
      const float *b = g->B + (size_t)p * g->ldb + jb;
      for (int i = 0; i < m; i++) {
        float av = arow[(size_t)i * k + p];
        float *ac = acc + i * SK_NB;
        int j = 0;
#if BD_GEMM_AVX2
        __m256 va = _mm256_set1_ps(av);
        for (; j + 8 <= nb; j += 8)
          _mm256_store_ps(ac + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(b + j), _mm256_load_ps(ac + j)));
#elif BD_GEMM_WASM
        v128_t va = wasm_f32x4_splat(av);
        for (; j + 4 <= nb; j += 4) wasm_v128_store(ac + j, VFMA(va, wasm_v128_load(b + j), wasm_v128_load(ac + j)));
#endif
        for (; j < nb; j++) ac[j] += av * b[j];
      }
    }
    for (int i = 0; i < m; i++)
      for (int j = 0; j < nb; j++) {
        float *c = g->C + (size_t)i * g->ldc + jb + j;
        *c = finish(g, acc[i * SK_NB + j], c, jb + j);
      }
  }
}

typedef struct {
  const gemm_p *g;
  float *arow;
} skinny_ctx;

static void skinny_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const skinny_ctx *s = (const skinny_ctx *)ctx;
  int j0 = begin * 16, j1 = MIN(end * 16, s->g->n);
  if (s->g->transB) {
    int slot = -1;
    float *brow = b_stored(s->g) ? (float *)bd_scratch_get(((size_t)2 * s->g->k) * sizeof(float), &slot) : NULL;
#if BD_GEMM_AVX2
    if (s->g->m > SKINNY_M)
      skinny_tb_groups(s->g, j0, j1, s->arow, brow);
    else
#endif
      skinny_tb(s->g, j0, j1, s->arow, brow);
    if (brow) bd_scratch_put(brow, slot);
  } else
    skinny_nb(s->g, j0, j1, s->arow);
}

static void gemm_skinny(const gemm_p *g, int par) {
  int slot;
  float *arow = (float *)bd_scratch_get(((size_t)g->m * g->k) * sizeof(float), &slot);
  for (int i = 0; i < g->m; i++)
    for (int p = 0; p < g->k; p++) arow[(size_t)i * g->k + p] = a_at(g, i, p);
  skinny_ctx s = {g, arow};
  int nblk = (g->n + 15) / 16;
  /* grain: at least ~64k multiply-adds per chunk */
  int grain = (int)(65536 / ((int64_t)g->m * g->k * 16 + 1)) + 1;
  if (par)
    bd_parallel_for(nblk, grain, skinny_task, &s);
  else
    skinny_task(&s, 0, nblk, 0);
  bd_scratch_put(arow, slot);
}

/* ------------------------------------------------------------------------------------------------------ */
/* small products in parallel: one parallel_for, each tile packs its own A rows and B columns               */

typedef struct {
  const gemm_p *g;
  int nt, tilesN;
  const float *preA; /* m <= MC: op(A) packed once for all depth blocks (panels x MR x kc per block) */
} fused_ctx;

static void fused_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const fused_ctx *f = (const fused_ctx *)ctx;
  const gemm_p *g = f->g;
  int kcap = MIN(g->k, KC);
  size_t aSize = ((size_t)MC * kcap + 15) & ~(size_t)15;
  int slot;
  size_t nbuf = aSize + (size_t)((f->nt + NR - 1) / NR) * NR * kcap;
  float *buf = (float *)bd_scratch_get(nbuf * sizeof(float), &slot);
  gemm_step s;
  s.g = g;
  s.pa = buf;
  s.pb = buf + aSize;
  for (int t = begin; t < end; t++) {
    int ti = t / f->tilesN, tj = t - ti * f->tilesN;
    s.i0 = ti * MC;
    s.mb = MIN(MC, g->m - s.i0);
    s.j0 = tj * f->nt;
    s.nb = MIN(f->nt, g->n - s.j0);
    s.nAp = (s.mb + MR - 1) / MR;
    s.nBp = (s.nb + NR - 1) / NR;
    s.nt = s.nb;
    s.tilesN = 1;
    s.nTiles = 1;
    for (int p0 = 0; p0 < g->k; p0 += KC) {
      s.p0 = p0;
      s.kc = MIN(KC, g->k - p0);
      s.first = p0 == 0;
      if (f->preA) {
        s.pa = (float *)f->preA + (size_t)s.nAp * MR * p0;
        for (int jp = 0; jp < s.nBp; jp++) pack_b(&s, jp);
      } else {
        pack_task(&s, 0, s.nAp + s.nBp, 0);
      }
      compute_tile(&s, 0);
    }
  }
  bd_scratch_put(buf, slot);
}

static void gemm_fused(const gemm_p *g) {
  int T = nthreads(), tilesM = (g->m + MC - 1) / MC, want = 4 * T;
  int nt = NT;
  if (tilesM * ((g->n + nt - 1) / nt) < want) {
    int tn = (want + tilesM - 1) / tilesM;
    nt = ((g->n + tn - 1) / tn + NR - 1) / NR * NR;
    if (nt < 2 * NR) nt = 2 * NR; /* each tile repacks its A rows: keep tiles at least 2 panels wide */
  }
  fused_ctx f = {g, nt, (g->n + nt - 1) / nt, NULL};
  int slot = -1;
  float *preA = NULL;
  if (tilesM == 1 && f.tilesN > 2 * T) {
    /* few rows, many columns (e.g. the logits product): pack op(A) once here instead of once per tile */
    int nAp = (g->m + MR - 1) / MR;
    preA = (float *)bd_scratch_get(((size_t)nAp * MR * g->k) * sizeof(float), &slot);
    gemm_step s;
    s.g = g;
    s.i0 = 0;
    s.mb = g->m;
    for (int p0 = 0; p0 < g->k; p0 += KC) {
      s.p0 = p0;
      s.kc = MIN(KC, g->k - p0);
      s.pa = preA + (size_t)nAp * MR * p0;
      for (int ip = 0; ip < nAp; ip++) pack_a(&s, ip);
    }
    f.preA = preA;
  }
  bd_parallel_for(f.tilesN * tilesM, 1, fused_task, &f);
  if (preA) bd_scratch_put(preA, slot);
}

/* ------------------------------------------------------------------------------------------------------ */
/* drivers                                                                                                */

static void gemm_one(const gemm_p *g, int par) {
  int m = g->m, n = g->n, k = g->k;
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || g->alpha == 0.0f) {
    scale_rows(g, 0, m);
    return;
  }
  if (m <= SKINNY_M || (g->transB && m <= SKINNY_TB_M)) {
    gemm_skinny(g, par);
    return;
  }
  if (par && ((int64_t)m * n * k <= FUSED_MAX_MACS || m <= MC)) {
    gemm_fused(g);
    return;
  }
  int mcap = MIN(m, MBIG), ncap = MIN(n, NC), kcap = MIN(k, KC);
  size_t aSize = ((size_t)((mcap + MR - 1) / MR) * MR * kcap + 15) & ~(size_t)15;
  size_t bSize = (size_t)((ncap + NR - 1) / NR) * NR * kcap;
  int slot, nthr = par ? nthreads() : 1;
  float *buf = (float *)bd_scratch_get((aSize + bSize) * sizeof(float), &slot);
  gemm_step s;
  s.g = g;
  s.pa = buf;
  s.pb = buf + aSize;
  for (int i0 = 0; i0 < m; i0 += MBIG) {
    s.i0 = i0;
    s.mb = MIN(MBIG, m - i0);
    s.nAp = (s.mb + MR - 1) / MR;
    for (int j0 = 0; j0 < n; j0 += NC) {
      s.j0 = j0;
      s.nb = MIN(NC, n - j0);
      s.nBp = (s.nb + NR - 1) / NR;
      {
        /* at least ~4 tiles per thread when the block is small: narrower tiles (multiples of NR) */
        int tilesM = (s.mb + MC - 1) / MC, want = par ? 4 * nthr : 1;
        int nt = NT;
        if (tilesM * ((s.nb + nt - 1) / nt) < want) {
          int tn = (want + tilesM - 1) / tilesM;
          nt = ((s.nb + tn - 1) / tn + NR - 1) / NR * NR;
          if (nt < NR) nt = NR;
        }
        s.nt = nt;
        s.tilesN = (s.nb + nt - 1) / nt;
        s.nTiles = s.tilesN * tilesM;
      }
      for (int p0 = 0; p0 < k; p0 += KC) {
        s.p0 = p0;
        s.kc = MIN(KC, k - p0);
        s.first = p0 == 0;
        if (par) {
          bd_parallel_for(s.nAp + s.nBp, 4, pack_task, &s);
          bd_parallel_for(s.nTiles, 1, compute_task, &s);
        } else {
          pack_task(&s, 0, s.nAp + s.nBp, 0);
          compute_task(&s, 0, s.nTiles, 0);
        }
      }
    }
  }
  bd_scratch_put(buf, slot);
}

typedef struct {
  gemm_p g;
  int64_t sA, sB, sC;
} batch_ctx;

static void batch_task(void *ctx, int begin, int end, int tid) {
  (void)tid;
  const batch_ctx *b = (const batch_ctx *)ctx;
  for (int t = begin; t < end; t++) {
    gemm_p g = b->g;
    g.A += t * b->sA;
    g.B += t * b->sB;
    g.C += t * b->sC;
    gemm_one(&g, 0);
  }
}

/* below this many multiply-adds one product runs on one thread */
#define PAR_MIN_MACS (1 << 18)

void bd_sgemm_own(int transA, int transB, int m, int n, int k, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int batch,
                  int64_t strideA, int64_t strideB, int64_t strideC) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  batch_ctx b;
  b.g.transA = transA;
  b.g.transB = transB;
  b.g.m = m;
  b.g.n = n;
  b.g.k = k < 0 ? 0 : k;
  b.g.alpha = alpha;
  b.g.beta = beta;
  b.g.A = A;
  b.g.B = B;
  b.g.bias = bias;
  b.g.C = C;
  b.g.lda = lda;
  b.g.ldb = ldb;
  b.g.ldc = ldc;
  b.g.Bh = NULL;
  b.g.bfmt = 0;
  b.g.Bq = NULL;
  b.g.bscale = NULL;
  b.sA = strideA;
  b.sB = strideB;
  b.sC = strideC;
  int64_t macs = (int64_t)m * n * (k > 0 ? k : 1);
  if (batch == 1) {
    gemm_one(&b.g, macs >= PAR_MIN_MACS);
    return;
  }
  int T = nthreads();
  /* whole items per thread when they are small or divide evenly; otherwise each item in parallel */
  if (T == 1 || macs < (1 << 24) || batch % T == 0 || batch >= 4 * T) {
    int64_t grain = PAR_MIN_MACS / macs;
    bd_parallel_for(batch, grain < 1 ? 1 : (int)MIN(grain, batch), batch_task, &b);
  } else {
    for (int t = 0; t < batch; t++) {
      gemm_p g = b.g;
      g.A += t * strideA;
      g.B += t * strideB;
      g.C += t * strideC;
      gemm_one(&g, 1);
    }
  }
}

void bd_sgemm_bhalf(int transA, int m, int n, int k, float alpha, const float *A, int lda, const uint16_t *Bh,
                    int fmt, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (m <= 0 || n <= 0) return;
  gemm_p g = {.transA = transA, .transB = 1, .m = m, .n = n, .k = k < 0 ? 0 : k, .alpha = alpha, .beta = beta,
              .A = A, .B = NULL, .bias = bias, .C = C, .lda = lda, .ldb = ldb, .ldc = ldc, .Bh = Bh, .bfmt = fmt};
  gemm_one(&g, (int64_t)m * n * (k > 0 ? k : 1) >= PAR_MIN_MACS);
}

void bd_sgemm_bq8(int transA, int m, int n, int k, float alpha, const float *A, int lda, const int8_t *Bq,
                  const float *scales, int ldb, float beta, float *C, int ldc, const float *bias) {
  if (m <= 0 || n <= 0) return;
  gemm_p g = {.transA = transA, .transB = 1, .m = m, .n = n, .k = k < 0 ? 0 : k, .alpha = alpha, .beta = beta,
              .A = A, .B = NULL, .bias = bias, .C = C, .lda = lda, .ldb = ldb, .ldc = ldc, .Bq = Bq,
              .bscale = scales};
  gemm_one(&g, (int64_t)m * n * (k > 0 ? k : 1) >= PAR_MIN_MACS);
}

/* ------------------------------------------------------------------------------------------------------ */
/* bd_sgemm: OpenBLAS where it is faster (when compiled with BD_HAVE_OPENBLAS), else the own kernel      */

#ifdef BD_HAVE_OPENBLAS
#include <cblas.h>

#ifndef BD_OPENBLAS_MIN_MACS
#define BD_OPENBLAS_MIN_MACS (1 << 22)
#endif
/* AVX-512 OpenBLAS against the own kernel, 2 threads, AMD EPYC (Zen 4), GFLOP/s own / OpenBLAS: 32x256x256
 * 125 / 73, 64x256x1024 168 / 150, 128x256x256 168 / 141, 256x256x256 163 / 164, 128x1024x256 160 / 150,
 * 64x768x768 163 / 170, 128x768x768 175 / 191: the own kernel wins below about 2^25 multiply-adds (batched
 * sampling calls of 256-wide models: 32-128 rows), OpenBLAS above */
#ifndef BD_OPENBLAS_WIDE_MIN_MACS
#define BD_OPENBLAS_WIDE_MIN_MACS (1 << 25)
#endif

#include <stdlib.h>
#include <string.h>

/* BD3LM_SGEMM=own | openblas routes every product to that kernel (to benchmark one against the other in one
 * build); anything else (or unset) picks per product, below */
static int forced(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("BD3LM_SGEMM");
    v = !e ? 0 : strcmp(e, "own") == 0 ? 1 : strcmp(e, "openblas") == 0 ? 2 : 0;
  }
  return v;
}

char *openblas_get_corename(void);

/* whether OpenBLAS runs its AVX-512 kernels (chosen at load: its CPU detection, or OPENBLAS_CORETYPE, which the
 * TypeScript loader sets on AVX-512 CPUs that this OpenBLAS does not know); they do twice the multiply-adds per
 * cycle of the own AVX2 kernel */
static int openblas_wide(void) {
  static int v = -1;
  if (v < 0) {
    const char *c = openblas_get_corename();
    v = c && (strcmp(c, "SkylakeX") == 0 || strcmp(c, "Cooperlake") == 0 || strcmp(c, "SapphireRapids") == 0);
  }
  return v;
}

int bd_sgemm_uses_openblas(void) { return forced() != 1; }

const char *bd_sgemm_openblas_core(void) { return openblas_get_corename(); }

static void add_bias(float *C, int m, int n, int ldc, const float *bias) {
  for (int i = 0; i < m; i++) {
    float *c = C + (size_t)i * ldc;
    for (int j = 0; j < n; j++) c[j] += bias[j];
  }
}

/* the own kernel for this product? */
static int use_own(int m, int n, int k, int batch) {
  if (forced()) return forced() == 1;
  int64_t macs = (int64_t)m * n * k;
  if (k <= 0 || m <= SKINNY_M) return 1;
  /* batches of small products: the own kernel spreads whole items over the threads, which beat a loop of
   * OpenBLAS calls by 1.5-2x on 12 x (16x256x256) and 12 x (1024x1024x64) */
  if (batch > 1 && macs < ((int64_t)1 << 27)) return 1;
  if (openblas_wide())
    /* AVX-512 OpenBLAS: faster from about 32 rows and 2^25 multiply-adds (slower below), except on the logits
     * product (few rows, many columns), which reading the weights bounds and where the own kernel packs op(A) once */
    return m < 32 || macs < BD_OPENBLAS_WIDE_MIN_MACS || (m <= MC && n >= 8192);
  /* AVX2 OpenBLAS is ~5% faster on large single products; those with m <= MC (the own kernel beat it on
   * 64x50258x768, 85 vs 76 GFLOP/s on one thread) stay in the own kernel */
  return m <= MC || macs < BD_OPENBLAS_MIN_MACS;
}

void bd_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int batch,
              int64_t strideA, int64_t strideB, int64_t strideC) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (use_own(m, n, k, batch)) {
    bd_sgemm_own(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, batch, strideA, strideB,
                 strideC);
    return;
  }
  for (int t = 0; t < batch; t++) {
    float *c = C + t * strideC;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, A + t * strideA, lda, B + t * strideB, ldb, beta, c, ldc);
    if (bias) add_bias(c, m, n, ldc, bias);
  }
}
#else
int bd_sgemm_uses_openblas(void) { return 0; }

const char *bd_sgemm_openblas_core(void) { return NULL; }

void bd_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int batch,
              int64_t strideA, int64_t strideB, int64_t strideC) {
  bd_sgemm_own(transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, batch, strideA, strideB,
               strideC);
}
#endif

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, batch, sA, sB, sC) */
BD_NAPI(sgemm) {
  call_t c;
  if (!begin(&c, env, info, "sgemm", 18)) return NULL;
  int tA = arg_bool(&c, 0, "transA"), tB = arg_bool(&c, 1, "transB");
  int64_t m = arg_int(&c, 2, "m", 0, I32MAX), n = arg_int(&c, 3, "n", 0, I32MAX), k = arg_int(&c, 4, "k", 0, I32MAX);
  float alpha = (float)arg_num(&c, 5, "alpha");
  int64_t la, lb, lc, lbias;
  float *a = F32(6, "a", &la);
  int64_t lda = arg_int(&c, 7, "lda", 1, I32MAX);
  float *b = F32(8, "b", &lb);
  int64_t ldb = arg_int(&c, 9, "ldb", 1, I32MAX);
  float beta = (float)arg_num(&c, 10, "beta");
  float *cc = F32(11, "c", &lc);
  int64_t ldc = arg_int(&c, 12, "ldc", 1, I32MAX);
  float *bias = F32_OPT(13, "bias", &lbias);
  int64_t batch = arg_int(&c, 14, "batch", 0, I32MAX);
  int64_t sA = arg_int(&c, 15, "strideA", 0, I53MAX), sB = arg_int(&c, 16, "strideB", 0, I53MAX),
          sC = arg_int(&c, 17, "strideC", 0, I53MAX);
  int64_t ar = tA ? k : m, ac = tA ? m : k, br = tB ? n : k, bc = tB ? k : n;
  if (!c.failed && lda < ac) fail(&c, "%s %lld is below the row length %lld", "lda", lda, ac);
  if (!c.failed && ldb < bc) fail(&c, "%s %lld is below the row length %lld", "ldb", ldb, bc);
  if (!c.failed && ldc < n) fail(&c, "%s %lld is below the row length %lld", "ldc", ldc, n);
  if (m > 0 && n > 0 && k > 0) {
    need(&c, "a", la, extent2d(batch, sA, ar, ac, lda));
    need(&c, "b", lb, extent2d(batch, sB, br, bc, ldb));
  }
  need(&c, "c", lc, extent2d(batch, sC, m, n, ldc));
  if (bias) need(&c, "bias", lbias, n);
  if (c.failed) return NULL;
  bd_sgemm(tA, tB, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, cc, (int)ldc, bias, (int)batch, sA,
           sB, sC);
  return undefined(env);
}

/* sgemmHalf(tA, m, n, k, alpha, a, lda, bh, dtype, ldb, beta, c, ldc, bias): op(B) = bh^T, bh n x k halves;
 * sgemmQ8(tA, m, n, k, alpha, a, lda, bq, scales, ldb, beta, c, ldc, bias): op(B) = (bq * scales)^T, bq n x k int8
 * with n scales; sgemmW8A8(the same arguments): op(A) quantized to int8 as well (bd_sgemm_w8a8, w8a8.c) */
enum { ST_HALF, ST_Q8, ST_W8A8 };
static napi_value sgemm_stored(napi_env env, napi_callback_info info, int kind) {
  call_t c;
  const int q8 = kind != ST_HALF;
  if (!begin(&c, env, info, kind == ST_W8A8 ? "sgemmW8A8" : q8 ? "sgemmQ8" : "sgemmHalf", 14)) return NULL;
  int tA = arg_bool(&c, 0, "transA");
  int64_t m = arg_int(&c, 1, "m", 0, I32MAX), n = arg_int(&c, 2, "n", 0, I32MAX), k = arg_int(&c, 3, "k", 0, I32MAX);
  float alpha = (float)arg_num(&c, 4, "alpha");
  int64_t la, lb, lc, lbias;
  float *a = F32(5, "a", &la);
  int64_t lda = arg_int(&c, 6, "lda", 1, I32MAX);
  void *bw = arg_array(&c, 7, "b", q8 ? napi_int8_array : napi_uint16_array, 0, &lb);
  int64_t lscales = 0;
  float *scales = q8 ? F32(8, "scales", &lscales) : NULL;
  int fmt = q8 ? 0 : arg_half_fmt(&c, 8);
  int64_t ldb = arg_int(&c, 9, "ldb", 1, I32MAX);
  float beta = (float)arg_num(&c, 10, "beta");
  float *cc = F32(11, "c", &lc);
  int64_t ldc = arg_int(&c, 12, "ldc", 1, I32MAX);
  float *bias = F32_OPT(13, "bias", &lbias);
  int64_t ar = tA ? k : m, ac = tA ? m : k;
  if (!c.failed && lda < ac) fail(&c, "%s %lld is below the row length %lld", "lda", lda, ac);
  if (!c.failed && ldb < k) fail(&c, "%s %lld is below the row length %lld", "ldb", ldb, k);
  if (!c.failed && ldc < n) fail(&c, "%s %lld is below the row length %lld", "ldc", ldc, n);
  if (m > 0 && n > 0 && k > 0) {
    need(&c, "a", la, extent2d(1, 0, ar, ac, lda));
    need(&c, "b", lb, extent2d(1, 0, n, k, ldb));
  }
  if (q8) need(&c, "scales", lscales, n);
  if (kind == ST_W8A8 && !c.failed && k > BD_W8A8_MAX_K)
    fail(&c, "%s %lld is above %lld (int32 dot products)", "k", (long long)k, (long long)BD_W8A8_MAX_K);
  need(&c, "c", lc, extent2d(1, 0, m, n, ldc));
  if (bias) need(&c, "bias", lbias, n);
  if (c.failed) return NULL;
  if (kind == ST_W8A8)
    bd_sgemm_w8a8(tA, (int)m, (int)n, (int)k, alpha, a, (int)lda, (const int8_t *)bw, scales, (int)ldb, beta, cc,
                  (int)ldc, bias);
  else if (q8)
    bd_sgemm_bq8(tA, (int)m, (int)n, (int)k, alpha, a, (int)lda, (const int8_t *)bw, scales, (int)ldb, beta, cc,
                 (int)ldc, bias);
  else
    bd_sgemm_bhalf(tA, (int)m, (int)n, (int)k, alpha, a, (int)lda, (const uint16_t *)bw, fmt, (int)ldb, beta, cc,
                   (int)ldc, bias);
  return undefined(env);
}
BD_NAPI(sgemm_half) { return sgemm_stored(env, info, ST_HALF); }
BD_NAPI(sgemm_q8) { return sgemm_stored(env, info, ST_Q8); }
BD_NAPI(sgemm_w8a8) { return sgemm_stored(env, info, ST_W8A8); }
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(sgemm) void w_sgemm(int tA, int tB, int m, int n, int k, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int batch,
                             int sA, int sB, int sC) {
  bd_sgemm(tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, batch, sA, sB, sC);
}

BD_WASM(sgemm_half) void w_sgemm_half(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                       const uint16_t *Bh, int fmt, int ldb, float beta, float *C, int ldc,
                                       const float *bias) {
  bd_sgemm_bhalf(tA, m, n, k, alpha, A, lda, Bh, fmt, ldb, beta, C, ldc, bias);
}

BD_WASM(sgemm_q8) void w_sgemm_q8(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                   const int8_t *Bq, const float *scales, int ldb, float beta, float *C, int ldc,
                                   const float *bias) {
  bd_sgemm_bq8(tA, m, n, k, alpha, A, lda, Bq, scales, ldb, beta, C, ldc, bias);
}

BD_WASM(sgemm_w8a8) void w_sgemm_w8a8(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                       const int8_t *Bq, const float *scales, int ldb, float beta, float *C, int ldc,
                                       const float *bias) {
  bd_sgemm_w8a8(tA, m, n, k, alpha, A, lda, Bq, scales, ldb, beta, C, ldc, bias);
}
#endif
