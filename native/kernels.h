/* fp32 kernels shared by the Node addon and the WebAssembly build. Row-major everywhere.
 * The TypeScript reference (src/tensor/ref.ts) defines the exact semantics of each kernel; keep them in sync. */
#ifndef BD_KERNELS_H
#define BD_KERNELS_H
#include <stdint.h>

/* C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] + bias, for b < batch.
 * op(A) is m x k (stored k x m with leading dim lda when transA), op(B) is k x n (stored n x k when transB).
 * beta == 0 means C is overwritten (never read). bias (length n, may be NULL) is added to every row. */
void bd_sgemm(int transA, int transB, int m, int n, int k, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
              const float *bias, int batch, int64_t strideA, int64_t strideB, int64_t strideC);

/* The project's own sgemm (same contract); bd_sgemm may route to OpenBLAS instead. */
void bd_sgemm_own(int transA, int transB, int m, int n, int k, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                  const float *bias, int batch, int64_t strideA, int64_t strideB, int64_t strideC);

/* bd_sgemm with op(B) = Bh^T read from half-precision storage (fmt BD_HALF_BF16 / BD_HALF_F16 of half.h):
 * Bh is n x k, leading dim ldb; converted to fp32 while packing (or streaming, for few rows), fp32 arithmetic.
 * One product (weights are 2-D); always the own kernel. */
void bd_sgemm_bhalf(int transA, int m, int n, int k, float alpha, const float *A, int lda, const uint16_t *Bh,
                    int fmt, int ldb, float beta, float *C, int ldc, const float *bias);

/* the same with op(B) = (Bq * scales)^T: Bq is n x k int8 (leading dim ldb), row j stands for Bq[j] * scales[j]
 * (q8.h), widened to fp32 while packing or streaming like a half B. */
void bd_sgemm_bq8(int transA, int m, int n, int k, float alpha, const float *A, int lda, const int8_t *Bq,
                  const float *scales, int ldb, float beta, float *C, int ldc, const float *bias);

/* the same product with op(A) quantized too (W8A8, kernels/w8a8.c): each row of op(A) to int8 with one scale
 * (max |row| / 127), integer dot products, both scales applied at the end. Approximates bd_sgemm_bq8.
 * k <= BD_W8A8_MAX_K (int32 dot products; loading checks it: src/model/quantize.ts). */
#define BD_W8A8_MAX_K 131072
void bd_sgemm_w8a8(int transA, int m, int n, int k, float alpha, const float *A, int lda, const int8_t *Bq,
                   const float *scales, int ldb, float beta, float *C, int ldc, const float *bias);
/* which dot-product loop bd_sgemm_w8a8 runs here: "avx512-vnni" (chosen at run time) or "portable" */
const char *bd_w8a8_kernel(void);

/* 1 when bd_sgemm was built to route large products to OpenBLAS (-DBD_HAVE_OPENBLAS), else 0. */
int bd_sgemm_uses_openblas(void);
/* the kernels OpenBLAS picked for this CPU (e.g. "Haswell", "SkylakeX"), NULL without OpenBLAS */
const char *bd_sgemm_openblas_core(void);

/* out[r] = LN(x[r]) * w * (1 + scale[g]) + shift[g], g = r / rowsPerGroup; LN without bias, biased variance, eps.
 * shift/scale may be NULL (no modulation); consecutive groups are modStride floats apart.
 * stats (may be NULL) receives mean and rstd per row: stats[2r], stats[2r+1]. out may alias x. */
void bd_layernorm(const float *x, float *out, int rows, int dim, const float *w, float eps,
                  const float *shift, const float *scale, int modStride, int rowsPerGroup, float *stats);

/* h[r] += gate[g] * y[r] (elementwise over dim), g = r / rowsPerGroup, groups gateStride floats apart;
 * gate NULL means h += y. */
void bd_gated_residual(float *h, const float *y, const float *gate, int rows, int dim, int gateStride,
                       int rowsPerGroup);

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). out may alias x. */
void bd_gelu_tanh(const float *x, float *out, int64_t n);

/* Row-wise over `cols`: softmax, log-softmax (out may alias x), logsumexp (out has `rows` entries). */
void bd_softmax(const float *x, float *out, int rows, int cols);
void bd_log_softmax(const float *x, float *out, int rows, int cols);
void bd_logsumexp(const float *x, float *out, int rows, int cols);

/* Half-split rotary, in place. Row r (r < rows) has its heads at x + r*rowStride + h*headDim, h < heads.
 * Its position is pos0 + (r % seqLen). cos/sin are tables [maxPos][headDim/2] (row p = position p).
 * out[j] = x[j] cos - x[j+d/2] sin;  out[j+d/2] = x[j+d/2] cos + x[j] sin. */
void bd_rotary(float *x, int rows, int rowStride, int heads, int headDim, const float *cos, const float *sin,
               int pos0, int seqLen);

/* out[i] = table[ids[i]] (rows of dim floats). */
void bd_embedding(const float *table, const int32_t *ids, int n, int dim, float *out);
/* the same from a half-precision table (fmt as in bd_sgemm_bhalf) */
void bd_embedding_half(const uint16_t *table, int fmt, const int32_t *ids, int n, int dim, float *out);
/* the same from an int8 table with one scale per row (as bd_sgemm_bq8's B) */
void bd_embedding_q8(const int8_t *table, const float *scales, const int32_t *ids, int n, int dim, float *out);

/* Multi-head attention with a block-structured mask, computed only on allowed keys.
 * Head h of position i of batch item b is at q + b*qBatchStride + i*qRowStride + h*headDim (same for k, v, out).
 * spans: nSpans records of 6 ints (q0, q1, k0, k1, k2, k3): query rows [q0,q1) attend to keys [k0,k1) U [k2,k3)
 * (k2 == k3 for one interval). Every query row of [0, qLen) must be in exactly one record and have >= 1 key.
 * out = softmax(scale * q k^T over allowed keys) v. lse (may be NULL) receives [batch][heads][qLen] the
 * logsumexp of the scaled allowed scores (for the backward pass). */
typedef struct {
  int batch, heads, headDim, qLen, kLen;
  const float *q, *k, *v;
  float *out;
  int qRowStride, kRowStride, vRowStride, outRowStride;
  int64_t qBatchStride, kBatchStride, vBatchStride, outBatchStride;
  float scale;
  const int32_t *spans;
  int nSpans;
  float *lse;
} bd_attention_args;
void bd_attention(const bd_attention_args *a);

/* The per-row work of the block sampler (native/kernels/sampling.c), exactly RefBackend.sampleRows of
 * src/tensor/ref.ts (float64, JavaScript's exp/log/pow). With logp ([rows][V] SUBS log-probabilities): row r of
 * probs becomes exp(logp[r]) after the filters temperature (1 = off), top-k (0 or >= V = off) and top-p (>= 1 = off,
 * includeCrossing keeps the crossing token; temperature 0 = greedy); fallback[r] = 1 marks a row whose top-k /
 * top-p were not applied (scratch memory ran out) and whose draws were not made (out = -1): the caller filters it
 * by the definition and draws again without logp; fallback[r] = BD_NOT_A_DISTRIBUTION marks a row with a NaN or
 * infinity or no positive entry, not filtered and not drawn from (out = -1). Then draw d (d < draws) picks a token from row drawRow[d] of probs into
 * out[d]: the race argmax q / (1e-10 - ln(u + 1e-10)) on q = p, or with maskId >= 0 on the DDPM posterior
 * q = p * keep, q[maskId] = stay. Its noise u is noise[d][V], or (noise NULL) the seeded row (seeds[3d], seeds[3d+1],
 * seeds[3d+2]) = (word 0, word 1, row) of src/tensor/sampling/random.ts seededRow. Rows (with logp) or draws (without) run
 * in parallel. */
#define BD_NOT_A_DISTRIBUTION 2 /* = NOT_A_DISTRIBUTION of src/tensor/backend.ts */
typedef struct {
  int rows, V;
  double *probs;
  const float *logp;
  double temperature;
  int topK;
  double topP;
  int includeCrossing;
  int32_t *fallback;
  int draws;
  const int32_t *drawRow;
  const double *noise;
  const int32_t *seeds;
  int maskId;
  double keep, stay;
  int32_t *out;
} bd_sample_rows_args;
void bd_sample_rows(const bd_sample_rows_args *a);

/* ---- training (semantics: src/tensor/backend.ts and src/tensor/ref.ts) ---- */

/* Backward of bd_layernorm: dx overwritten (may alias dout); dw, dshift, dscale accumulated (dshift/dscale per
 * group, modStride apart, NULL when unmodulated). stats = saved (mean, rstd) per row. */
void bd_layernorm_backward(const float *dout, const float *x, const float *stats, int rows, int dim, const float *w,
                           const float *shift, const float *scale, int modStride, int rowsPerGroup, float *dx,
                           float *dw, float *dshift, float *dscale);

/* Backward of bd_gated_residual: dy = gate[g] * dh (overwritten); dgate[g] += sum over the group's rows dh * y. */
void bd_gated_residual_backward(const float *dh, const float *y, const float *gate, int rows, int dim,
                                int gateStride, int rowsPerGroup, float *dy, float *dgate);

/* dx = dout * GELU_tanh'(x); dx may alias dout. */
void bd_gelu_tanh_backward(const float *x, const float *dout, float *dx, int64_t n);

/* Backward of bd_attention (same layout/spans; lse from the forward). dq/dk/dv share the q/k/v strides and are
 * overwritten (dk, dv over all kLen rows). */
typedef struct {
  bd_attention_args fwd; /* its out = the forward output, lse = the forward lse */
  const float *dout;
  float *dq, *dk, *dv;
} bd_attention_backward_args;
void bd_attention_backward(const bd_attention_backward_args *a);

/* dtable[ids[i]] += dout[i] (rows of dim). */
void bd_embedding_backward(const float *dout, const int32_t *ids, int n, int dim, float *dtable);

/* AdamW step in torch.optim.AdamW's order: g = grad*gradScale; p *= 1 - lr*wd; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps). */
void bd_adamw(float *p, const float *grad, float *m, float *v, int64_t n, double lr, double b1, double b2, double eps,
              double wd, int step, double gradScale);

/* shadow -= (1 - decay) * (shadow - param) */
void bd_ema_update(float *shadow, const float *param, int64_t n, float decay);

/* sum of x^2 accumulated in double */
double bd_sum_squares(const float *x, int64_t n);

#endif
