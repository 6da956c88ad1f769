/* The wasm module's exported entry points. Thin wrappers over kernels.h: pointers are offsets in the linear memory,
 * and 64-bit strides become 32-bit ints (a 4 GiB memory holds < 2^31 floats), since JS would otherwise have to
 * pass BigInts. */
#include "../kernels.h"
#include "../parallel.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* zero: JS callers expect fresh arrays to read 0 (like new Float32Array); scratch skips the fill */
void *bd_alloc_zeroed(size_t bytes);
EXPORT("alloc") void *w_alloc(int bytes, int zero) {
  return zero ? bd_alloc_zeroed((unsigned)bytes) : bd_alloc((unsigned)bytes);
}
EXPORT("free") void w_free(void *p) { bd_free(p); }
EXPORT("num_threads") int w_num_threads(void) { return bd_num_threads(); }

EXPORT("sgemm") void w_sgemm(int tA, int tB, int m, int n, int k, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc, const float *bias, int batch,
                             int sA, int sB, int sC) {
  bd_sgemm(tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias, batch, sA, sB, sC);
}

EXPORT("layernorm") void w_layernorm(const float *x, float *out, int rows, int dim, const float *w, float eps,
                                     const float *shift, const float *scale, int modStride, int rowsPerGroup,
                                     float *stats) {
  bd_layernorm(x, out, rows, dim, w, eps, shift, scale, modStride, rowsPerGroup, stats);
}

EXPORT("gated_residual") void w_gated_residual(float *h, const float *y, const float *gate, int rows, int dim,
                                               int gateStride, int rowsPerGroup) {
  bd_gated_residual(h, y, gate, rows, dim, gateStride, rowsPerGroup);
}

EXPORT("gelu_tanh") void w_gelu_tanh(const float *x, float *out, int n) { bd_gelu_tanh(x, out, n); }
EXPORT("softmax") void w_softmax(const float *x, float *out, int r, int c) { bd_softmax(x, out, r, c); }
EXPORT("log_softmax") void w_log_softmax(const float *x, float *out, int r, int c) { bd_log_softmax(x, out, r, c); }
EXPORT("logsumexp") void w_logsumexp(const float *x, float *out, int r, int c) { bd_logsumexp(x, out, r, c); }

EXPORT("rotary") void w_rotary(float *x, int rows, int rowStride, int heads, int headDim, const float *cos,
                               const float *sin, int pos0, int seqLen) {
  bd_rotary(x, rows, rowStride, heads, headDim, cos, sin, pos0, seqLen);
}

EXPORT("embedding") void w_embedding(const float *table, const int32_t *ids, int n, int dim, float *out) {
  bd_embedding(table, ids, n, dim, out);
}

EXPORT("sample_rows") void w_sample_rows(int rows, int V, double *probs, const float *logp, double temperature,
                                         int topK, double topP, int incl, int32_t *fallback, int draws,
                                         const int32_t *drawRow, const double *noise, const int32_t *seeds,
                                         int maskId, double keep, double stay, int32_t *out) {
  bd_sample_rows_args a = {rows, V, probs, logp, temperature, topK, topP, incl, fallback, draws,
                           drawRow, noise, seeds, maskId, keep, stay, out};
  bd_sample_rows(&a);
}

EXPORT("sgemm_half") void w_sgemm_half(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                       const uint16_t *Bh, int fmt, int ldb, float beta, float *C, int ldc,
                                       const float *bias) {
  bd_sgemm_bhalf(tA, m, n, k, alpha, A, lda, Bh, fmt, ldb, beta, C, ldc, bias);
}

EXPORT("embedding_half") void w_embedding_half(const uint16_t *table, int fmt, const int32_t *ids, int n, int dim,
                                               float *out) {
  bd_embedding_half(table, fmt, ids, n, dim, out);
}

EXPORT("sgemm_q8") void w_sgemm_q8(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                   const int8_t *Bq, const float *scales, int ldb, float beta, float *C, int ldc,
                                   const float *bias) {
  bd_sgemm_bq8(tA, m, n, k, alpha, A, lda, Bq, scales, ldb, beta, C, ldc, bias);
}

EXPORT("sgemm_w8a8") void w_sgemm_w8a8(int tA, int m, int n, int k, float alpha, const float *A, int lda,
                                       const int8_t *Bq, const float *scales, int ldb, float beta, float *C, int ldc,
                                       const float *bias) {
  bd_sgemm_w8a8(tA, m, n, k, alpha, A, lda, Bq, scales, ldb, beta, C, ldc, bias);
}

EXPORT("embedding_q8") void w_embedding_q8(const int8_t *table, const float *scales, const int32_t *ids, int n,
                                           int dim, float *out) {
  bd_embedding_q8(table, scales, ids, n, dim, out);
}

EXPORT("attention") void w_attention(int batch, int heads, int headDim, int qLen, int kLen, const float *q,
                                     const float *k, const float *v, float *out, int qRS, int kRS, int vRS, int oRS,
                                     int qBS, int kBS, int vBS, int oBS, float scale, const int32_t *spans,
                                     int nSpans, float *lse) {
  bd_attention_args a = {batch, heads, headDim, qLen, kLen, q, k, v, out, qRS, kRS, vRS, oRS,
                         qBS, kBS, vBS, oBS, scale, spans, nSpans, lse};
  bd_attention(&a);
}

/* ---- training ---- */

EXPORT("layernorm_backward") void w_layernorm_backward(const float *dout, const float *x, const float *stats, int rows,
                                                       int dim, const float *w, const float *shift,
                                                       const float *scale, int modStride, int rowsPerGroup,
                                                       float *dx, float *dw, float *dshift, float *dscale) {
  bd_layernorm_backward(dout, x, stats, rows, dim, w, shift, scale, modStride, rowsPerGroup, dx, dw, dshift, dscale);
}

EXPORT("gated_residual_backward") void w_gated_residual_backward(const float *dh, const float *y, const float *gate,
                                                                 int rows, int dim, int gateStride,
                                                                 int rowsPerGroup, float *dy, float *dgate) {
  bd_gated_residual_backward(dh, y, gate, rows, dim, gateStride, rowsPerGroup, dy, dgate);
}

EXPORT("gelu_tanh_backward") void w_gelu_tanh_backward(const float *x, const float *dout, float *dx, int n) {
  bd_gelu_tanh_backward(x, dout, dx, n);
}

EXPORT("attention_backward") void w_attention_backward(int batch, int heads, int headDim, int qLen, int kLen,
                                                       const float *q, const float *k, const float *v,
                                                       const float *out, int qRS, int kRS, int vRS, int oRS, int qBS,
                                                       int kBS, int vBS, int oBS, float scale,
                                                       const int32_t *spans, int nSpans, float *lse,
                                                       const float *dout, float *dq, float *dk, float *dv) {
  bd_attention_backward_args a = {{batch, heads, headDim, qLen, kLen, q, k, v, (float *)out, qRS, kRS, vRS, oRS,
                                   qBS, kBS, vBS, oBS, scale, spans, nSpans, lse},
                                  dout, dq, dk, dv};
  bd_attention_backward(&a);
}

EXPORT("embedding_backward") void w_embedding_backward(const float *dout, const int32_t *ids, int n, int dim,
                                                       float *dtable) {
  bd_embedding_backward(dout, ids, n, dim, dtable);
}

EXPORT("adamw") void w_adamw(float *p, const float *g, float *m, float *v, int n, double lr, double b1, double b2,
                             double eps, double wd, int step, double gradScale) {
  bd_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step, gradScale);
}

EXPORT("ema_update") void w_ema_update(float *shadow, const float *param, int n, float decay) {
  bd_ema_update(shadow, param, n, decay);
}

EXPORT("sum_squares") double w_sum_squares(const float *x, int n) { return bd_sum_squares(x, n); }

/* Self-test of the pool for test/wasm.test.ts: out[i] += i + 1 and hits[tid]++ per item. A nested parallel_for
 * inside a work item of a split job must run serially on the calling thread; hits[63] counts violations.
 * (When the outer call ran serially, as one item [0, n), the inner one may use the pool.) */
typedef struct {
  int *out, *hits, n;
} selftest_ctx;
typedef struct {
  selftest_ctx *c;
  int tid;
} selftest_nested;

static void selftest_inner(void *ctx, int b, int e, int tid) {
  selftest_nested *x = ctx;
  if (tid != x->tid || b != 0 || e != 7) x->c->hits[63]++;
}

static void selftest_fn(void *ctx, int b, int e, int tid) {
  selftest_ctx *c = ctx;
  for (int i = b; i < e; i++) {
    c->out[i] += i + 1;
    c->hits[tid]++;
  }
  if (b == 0 && e == c->n) return;
  selftest_nested x = {c, tid};
  bd_parallel_for(7, 1, selftest_inner, &x);
}

EXPORT("parallel_selftest") void w_parallel_selftest(int n, int grain, int *out, int *hits) {
  selftest_ctx c = {out, hits, n};
  bd_parallel_for(n, grain, selftest_fn, &c);
}
