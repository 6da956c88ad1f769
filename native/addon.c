/* Node-API binding for the kernels: one function per kernel, positional arguments (src/tensor/native.ts fills
 * defaults). Typed arrays are read in place. Every argument is type-checked and every array is checked to be long
 * enough for the shape and strides it is used with, so a bad call throws a JS error instead of corrupting memory. */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "kernels.h"
#include "parallel.h"

#ifdef BD_HAVE_OPENBLAS
void openblas_set_num_threads(int n);
#endif

#define MAX_ARGS 24

/* Argument reader for one call; after the first error (a pending JS exception) every reader returns a dummy. */
typedef struct {
  napi_env env;
  const char *fn;
  napi_value argv[MAX_ARGS];
  int failed;
} call_t;

static void fail(call_t *c, const char *fmt, const char *name, long long x, long long y) {
  if (c->failed) return;
  char msg[256], full[320];
  snprintf(msg, sizeof msg, fmt, name, x, y);
  snprintf(full, sizeof full, "bd3lm native %s: %s", c->fn, msg);
  napi_throw_error(c->env, NULL, full);
  c->failed = 1;
}

static int begin(call_t *c, napi_env env, napi_callback_info info, const char *fn, size_t want) {
  size_t argc = MAX_ARGS;
  c->env = env, c->fn = fn, c->failed = 0;
  if (napi_get_cb_info(env, info, &argc, c->argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "bd3lm native: cannot read arguments");
    return 0;
  }
  if (argc != want) fail(c, "%s: expected %lld arguments, got %lld", "arguments", (long long)want, (long long)argc);
  return !c->failed;
}

static napi_valuetype type_of(call_t *c, size_t i) {
  napi_valuetype t = napi_undefined;
  napi_typeof(c->env, c->argv[i], &t);
  return t;
}

static double arg_num(call_t *c, size_t i, const char *name) {
  double v = 0;
  if (c->failed) return 0;
  if (type_of(c, i) != napi_number) fail(c, "'%s' must be a number", name, 0, 0);
  else napi_get_value_double(c->env, c->argv[i], &v);
  return v;
}

/* an integer in [lo, hi] */
static int64_t arg_int(call_t *c, size_t i, const char *name, int64_t lo, int64_t hi) {
  double v = arg_num(c, i, name);
  if (c->failed) return 0;
  if (v != (double)(int64_t)v) fail(c, "'%s' must be an integer", name, 0, 0);
  else if (v < (double)lo || v > (double)hi) fail(c, "'%s' must be in [%lld, %lld]", name, lo, hi);
  return c->failed ? 0 : (int64_t)v;
}

static int arg_bool(call_t *c, size_t i, const char *name) {
  bool v = false;
  if (c->failed) return 0;
  if (type_of(c, i) != napi_boolean) fail(c, "'%s' must be a boolean", name, 0, 0);
  else napi_get_value_bool(c->env, c->argv[i], &v);
  return v;
}

/* a typed array of the given type, in place; NULL (len 0) when nullable and the value is null/undefined */
static void *arg_array(call_t *c, size_t i, const char *name, napi_typedarray_type want, int nullable,
                       int64_t *len) {
  *len = 0;
  if (c->failed) return NULL;
  napi_valuetype t = type_of(c, i);
  if (nullable && (t == napi_null || t == napi_undefined)) return NULL;
  bool is = false;
  napi_is_typedarray(c->env, c->argv[i], &is);
  napi_typedarray_type tt;
  size_t n = 0;
  void *data = NULL;
  if (is) napi_get_typedarray_info(c->env, c->argv[i], &tt, &n, &data, NULL, NULL);
  if (!is || tt != want) {
    fail(c,
         want == napi_float32_array   ? "'%s' must be a Float32Array"
         : want == napi_int32_array   ? "'%s' must be an Int32Array"
         : want == napi_float64_array ? "'%s' must be a Float64Array"
                                      : want == napi_int8_array ? "'%s' must be an Int8Array"
                                      : "'%s' must be a Uint16Array",
         name, 0, 0);
    return NULL;
  }
  *len = (int64_t)n;
  return data;
}
#define F32(i, name, len) ((float *)arg_array(&c, i, name, napi_float32_array, 0, len))
#define F32_OPT(i, name, len) ((float *)arg_array(&c, i, name, napi_float32_array, 1, len))

/* the array must hold `extent` elements */
static void need(call_t *c, const char *name, int64_t len, int64_t extent) {
  if (!c->failed && extent > len) fail(c, "'%s' has %lld elements, the shape and strides need %lld", name, len, extent);
}

/* elements spanned by `batch` matrices of rows x cols, leading dimension ld, items `stride` apart */
static int64_t extent2d(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

#define I32MAX 2147483647LL
#define I53MAX 9007199254740991LL

/* sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, batch, sA, sB, sC) */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
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

/* half format name -> BD_HALF_* */
static int arg_half_fmt(call_t *c, size_t i) {
  char s[8] = "";
  size_t len = 0;
  if (c->failed) return 0;
  if (type_of(c, i) == napi_string) napi_get_value_string_utf8(c->env, c->argv[i], s, sizeof s, &len);
  if (strcmp(s, "bf16") == 0) return BD_HALF_BF16;
  if (strcmp(s, "f16") == 0) return BD_HALF_F16;
  fail(c, "'%s' must be 'bf16' or 'f16'", "dtype", 0, 0);
  return 0;
}

/* sgemmHalf(tA, m, n, k, alpha, a, lda, bh, dtype, ldb, beta, c, ldc, bias): op(B) = bh^T, bh n x k halves;
 * sgemmQ8(tA, m, n, k, alpha, a, lda, bq, scales, ldb, beta, c, ldc, bias): op(B) = (bq * scales)^T, bq n x k int8
 * with n scales; sgemmW8A8(the same arguments): op(A) quantized to int8 as well (bd_sgemm_w8a8) */
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
static napi_value js_sgemm_half(napi_env e, napi_callback_info i) { return sgemm_stored(e, i, ST_HALF); }
static napi_value js_sgemm_q8(napi_env e, napi_callback_info i) { return sgemm_stored(e, i, ST_Q8); }
static napi_value js_sgemm_w8a8(napi_env e, napi_callback_info i) { return sgemm_stored(e, i, ST_W8A8); }

/* layerNorm(x, out, rows, dim, w, eps, shift, scale, modStride, rowsPerGroup, stats) */
static napi_value js_layernorm(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "layerNorm", 11)) return NULL;
  int64_t lx, lo, lw, lsh, lsc, lst;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t rows = arg_int(&c, 2, "rows", 0, I32MAX), dim = arg_int(&c, 3, "dim", 0, I32MAX);
  float *w = F32(4, "weight", &lw);
  float eps = (float)arg_num(&c, 5, "eps");
  float *shift = F32_OPT(6, "shift", &lsh), *scale = F32_OPT(7, "scale", &lsc);
  int64_t modStride = arg_int(&c, 8, "modStride", 0, I32MAX), rpg = arg_int(&c, 9, "rowsPerGroup", 1, I32MAX);
  float *stats = F32_OPT(10, "stats", &lst);
  need(&c, "x", lx, rows * dim);
  need(&c, "out", lo, rows * dim);
  need(&c, "weight", lw, dim);
  int64_t groups = rows > 0 ? (rows - 1) / (rpg ? rpg : 1) : 0;
  if (shift) need(&c, "shift", lsh, groups * modStride + dim);
  if (scale) need(&c, "scale", lsc, groups * modStride + dim);
  if (stats) need(&c, "stats", lst, 2 * rows);
  if (c.failed) return NULL;
  bd_layernorm(x, out, (int)rows, (int)dim, w, eps, shift, scale, (int)modStride, (int)rpg, stats);
  return undefined(env);
}

/* gatedResidual(h, y, gate, rows, dim, gateStride, rowsPerGroup) */
static napi_value js_gated_residual(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "gatedResidual", 7)) return NULL;
  int64_t lh, ly, lg;
  float *h = F32(0, "h", &lh), *y = F32(1, "y", &ly), *gate = F32_OPT(2, "gate", &lg);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  int64_t gs = arg_int(&c, 5, "gateStride", 0, I32MAX), rpg = arg_int(&c, 6, "rowsPerGroup", 1, I32MAX);
  need(&c, "h", lh, rows * dim);
  need(&c, "y", ly, rows * dim);
  if (gate && rows > 0) need(&c, "gate", lg, (rows - 1) / rpg * gs + dim);
  if (c.failed) return NULL;
  bd_gated_residual(h, y, gate, (int)rows, (int)dim, (int)gs, (int)rpg);
  return undefined(env);
}

/* geluTanh(x, out, n) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "geluTanh", 3)) return NULL;
  int64_t lx, lo;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t n = arg_int(&c, 2, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  need(&c, "out", lo, n);
  if (c.failed) return NULL;
  bd_gelu_tanh(x, out, n);
  return undefined(env);
}

/* softmax / logSoftmax / logsumexp (x, out, rows, cols) */
static napi_value softmax_like(napi_env env, napi_callback_info info, const char *fn, int mode) {
  call_t c;
  if (!begin(&c, env, info, fn, 4)) return NULL;
  int64_t lx, lo;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t rows = arg_int(&c, 2, "rows", 0, I32MAX), cols = arg_int(&c, 3, "cols", 0, I32MAX);
  need(&c, "x", lx, rows * cols);
  need(&c, "out", lo, mode == 2 ? (cols > 0 ? rows : 0) : rows * cols);
  if (c.failed) return NULL;
  if (mode == 0) bd_softmax(x, out, (int)rows, (int)cols);
  else if (mode == 1) bd_log_softmax(x, out, (int)rows, (int)cols);
  else bd_logsumexp(x, out, (int)rows, (int)cols);
  return undefined(env);
}
static napi_value js_softmax(napi_env e, napi_callback_info i) { return softmax_like(e, i, "softmax", 0); }
static napi_value js_log_softmax(napi_env e, napi_callback_info i) { return softmax_like(e, i, "logSoftmax", 1); }
static napi_value js_logsumexp(napi_env e, napi_callback_info i) { return softmax_like(e, i, "logsumexp", 2); }

/* rotary(x, rows, rowStride, heads, headDim, cos, sin, pos0, seqLen) */
static napi_value js_rotary(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "rotary", 9)) return NULL;
  int64_t lx, lcos, lsin;
  float *x = F32(0, "x", &lx);
  int64_t rows = arg_int(&c, 1, "rows", 0, I32MAX), rs = arg_int(&c, 2, "rowStride", 0, I32MAX);
  int64_t heads = arg_int(&c, 3, "heads", 0, I32MAX), hd = arg_int(&c, 4, "headDim", 0, I32MAX);
  float *cs = F32(5, "cos", &lcos), *sn = F32(6, "sin", &lsin);
  int64_t pos0 = arg_int(&c, 7, "pos0", 0, I32MAX), seqLen = arg_int(&c, 8, "seqLen", 1, I32MAX);
  if (!c.failed && hd % 2) fail(&c, "%s %lld must be even", "headDim", hd, 0);
  if (!c.failed && rows > 0 && rs < heads * hd) fail(&c, "%s %lld is below heads*headDim %lld", "rowStride", rs, heads * hd);
  if (rows > 0 && heads > 0 && hd > 0) {
    need(&c, "x", lx, (rows - 1) * rs + heads * hd);
    int64_t maxPos = pos0 + (rows < seqLen ? rows : seqLen); /* positions used: pos0 .. maxPos-1 */
    need(&c, "cos", lcos, maxPos * (hd / 2));
    need(&c, "sin", lsin, maxPos * (hd / 2));
  }
  if (c.failed) return NULL;
  bd_rotary(x, (int)rows, (int)rs, (int)heads, (int)hd, cs, sn, (int)pos0, (int)seqLen);
  return undefined(env);
}

/* every id must index a row of a table of tableLen floats with rows of dim */
static void check_ids(call_t *c, const int32_t *ids, int64_t n, int64_t tableLen, int64_t dim) {
  if (c->failed || dim <= 0) return;
  const int64_t vocab = tableLen / dim;
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= vocab) {
      fail(c, "%s[%lld] = %lld is outside the table", "ids", i, ids[i]);
      return;
    }
}

/* embedding(table, ids, n, dim, out); embeddingHalf(table, dtype, ids, n, dim, out) with a Uint16Array table;
 * embeddingQ8(table, scales, ids, n, dim, out) with an Int8Array table and a scale per row */
enum { EMB_F32, EMB_HALF, EMB_Q8 };
static napi_value embedding_like(napi_env env, napi_callback_info info, int kind) {
  call_t c;
  const int half = kind != EMB_F32; /* one argument more */
  if (!begin(&c, env, info, kind == EMB_Q8 ? "embeddingQ8" : half ? "embeddingHalf" : "embedding", 5 + half))
    return NULL;
  int64_t lt, lids, lo, lscales = 0;
  void *table = arg_array(&c, 0, "table",
                          kind == EMB_Q8 ? napi_int8_array : half ? napi_uint16_array : napi_float32_array, 0, &lt);
  int fmt = kind == EMB_HALF ? arg_half_fmt(&c, 1) : 0;
  float *scales = kind == EMB_Q8 ? F32(1, "scales", &lscales) : NULL;
  int32_t *ids = (int32_t *)arg_array(&c, 1 + half, "ids", napi_int32_array, 0, &lids);
  int64_t n = arg_int(&c, 2 + half, "n", 0, I32MAX), dim = arg_int(&c, 3 + half, "dim", 0, I32MAX);
  float *out = F32(4 + half, "out", &lo);
  need(&c, "ids", lids, n);
  need(&c, "out", lo, n * dim);
  if (kind == EMB_Q8 && dim > 0) need(&c, "scales", lscales, lt / dim);
  check_ids(&c, ids, n, lt, dim);
  if (c.failed) return NULL;
  if (kind == EMB_Q8)
    bd_embedding_q8((const int8_t *)table, scales, ids, (int)n, (int)dim, out);
  else if (half)
    bd_embedding_half((const uint16_t *)table, fmt, ids, (int)n, (int)dim, out);
  else
    bd_embedding((const float *)table, ids, (int)n, (int)dim, out);
  return undefined(env);
}
static napi_value js_embedding(napi_env e, napi_callback_info i) { return embedding_like(e, i, EMB_F32); }
static napi_value js_embedding_half(napi_env e, napi_callback_info i) { return embedding_like(e, i, EMB_HALF); }
static napi_value js_embedding_q8(napi_env e, napi_callback_info i) { return embedding_like(e, i, EMB_Q8); }

/* sampleRows(rows, V, probs, logp, temperature, topK, topP, includeCrossing, fallback, drawRow, noise, seeds, maskId,
 * keep, stay, out): see bd_sample_rows. probs a Float64Array [rows][V]; logp a Float32Array [rows][V] or null (then
 * fallback may be null); drawRow, out Int32Arrays of the draws (null: none); noise a Float64Array [draws][V] or null,
 * then seeds an Int32Array [draws][3]; maskId -1: no posterior. */
static napi_value js_sample_rows(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "sampleRows", 16)) return NULL;
  int64_t lp, ll, lf, ld, ln, ls, lo;
  int64_t rows = arg_int(&c, 0, "rows", 0, I32MAX), V = arg_int(&c, 1, "V", 1, I32MAX);
  double *probs = (double *)arg_array(&c, 2, "probs", napi_float64_array, 0, &lp);
  const float *logp = F32_OPT(3, "logp", &ll);
  double temperature = arg_num(&c, 4, "temperature");
  int64_t topK = arg_int(&c, 5, "topK", 0, I32MAX);
  double topP = arg_num(&c, 6, "topP");
  int incl = arg_bool(&c, 7, "includeCrossing");
  int32_t *fallback = (int32_t *)arg_array(&c, 8, "fallback", napi_int32_array, 1, &lf);
  const int32_t *drawRow = (const int32_t *)arg_array(&c, 9, "drawRow", napi_int32_array, 1, &ld);
  const double *noise = (const double *)arg_array(&c, 10, "noise", napi_float64_array, 1, &ln);
  const int32_t *seeds = (const int32_t *)arg_array(&c, 11, "seeds", napi_int32_array, 1, &ls);
  int64_t maskId = arg_int(&c, 12, "maskId", -1, I32MAX);
  double keep = arg_num(&c, 13, "keep"), stay = arg_num(&c, 14, "stay");
  int32_t *out = (int32_t *)arg_array(&c, 15, "out", napi_int32_array, 1, &lo);
  int64_t draws = ld;
  if (!c.failed && !(temperature >= 0 && temperature < __builtin_inf())) fail(&c, "'%s' must be >= 0 and finite", "temperature", 0, 0);
  if (!c.failed && !(topP > 0)) fail(&c, "'%s' must be > 0", "topP", 0, 0);
  if (!c.failed && maskId >= V) fail(&c, "'%s' must be < V = %lld", "maskId", V, 0);
  need(&c, "probs", lp, rows * V);
  if (logp) {
    need(&c, "logp", ll, rows * V);
    need(&c, "fallback", lf, rows);
  }
  if (draws) {
    need(&c, "out", lo, draws);
    if (noise)
      need(&c, "noise", ln, draws * V);
    else
      need(&c, "seeds", ls, draws * 3);
    for (int64_t d = 0; d < draws && !c.failed; d++)
      if (drawRow[d] < 0 || drawRow[d] >= rows) fail(&c, "'%s' entry %lld is outside the rows 0..%lld", "drawRow", d, rows - 1);
  }
  if (c.failed) return NULL;
  bd_sample_rows_args a = {(int)rows, (int)V, probs, logp, temperature, (int)topK, topP, incl, fallback, (int)draws,
                           drawRow, noise, seeds, (int)maskId, keep, stay, out};
  bd_sample_rows(&a);
  return undefined(env);
}

/* Checks the spans records: bounds, a key for every row, every query row covered exactly once. */
static void check_spans(call_t *c, const int32_t *sp, int64_t nSpans, int64_t qLen, int64_t kLen) {
  if (c->failed) return;
  unsigned char *seen = (unsigned char *)calloc((size_t)qLen + 1, 1);
  if (!seen) {
    fail(c, "%s: out of memory", "spans", 0, 0);
    return;
  }
  for (int64_t r = 0; r < nSpans && !c->failed; r++) {
    const int32_t *s = sp + 6 * r;
    if (s[0] < 0 || s[0] > s[1] || s[1] > qLen) fail(c, "%s record %lld: query rows outside [0, qLen) (qLen %lld)", "spans", r, qLen);
    else if (s[2] < 0 || s[2] > s[3] || s[3] > kLen || s[4] < 0 || s[4] > s[5] || s[5] > kLen)
      fail(c, "%s record %lld: key interval outside [0, kLen) (kLen %lld)", "spans", r, kLen);
    else if (s[1] > s[0] && s[3] - s[2] + s[5] - s[4] <= 0) fail(c, "%s record %lld has no keys", "spans", r, 0);
    else
      for (int32_t i = s[0]; i < s[1]; i++)
        if (seen[i]++) {
          fail(c, "%s: query row %lld is in more than one record (record %lld)", "spans", i, r);
          break;
        }
  }
  for (int64_t i = 0; i < qLen && !c->failed; i++)
    if (!seen[i]) fail(c, "%s: query row %lld is in no record", "spans", i, 0);
  free(seen);
}

/* Reads and checks the 20 leading arguments shared by attention and attentionBackward (batch, heads, headDim, qLen,
 * kLen, q, k, v, out, qRS, kRS, vRS, oRS, qBS, kBS, vBS, oBS, scale, spans, lse) into *a. */
static void attention_args(call_t *c, bd_attention_args *a, int lseRequired) {
  int64_t batch = arg_int(c, 0, "batch", 0, I32MAX), heads = arg_int(c, 1, "heads", 0, I32MAX);
  int64_t hd = arg_int(c, 2, "headDim", 0, I32MAX), qLen = arg_int(c, 3, "qLen", 0, I32MAX),
          kLen = arg_int(c, 4, "kLen", 0, I32MAX);
  int64_t lq, lk, lv, lo, lsp, llse;
  a->q = (float *)arg_array(c, 5, "q", napi_float32_array, 0, &lq), a->k = (float *)arg_array(c, 6, "k", napi_float32_array, 0, &lk), a->v = (float *)arg_array(c, 7, "v", napi_float32_array, 0, &lv), a->out = (float *)arg_array(c, 8, "out", napi_float32_array, 0, &lo);
  int64_t rs[4], bs[4];
  static const char *rsn[4] = {"qRowStride", "kRowStride", "vRowStride", "outRowStride"};
  static const char *bsn[4] = {"qBatchStride", "kBatchStride", "vBatchStride", "outBatchStride"};
  for (int t = 0; t < 4; t++) rs[t] = arg_int(c, 9 + t, rsn[t], 0, I32MAX);
  for (int t = 0; t < 4; t++) bs[t] = arg_int(c, 13 + t, bsn[t], 0, I53MAX);
  a->scale = (float)arg_num(c, 17, "scale");
  const int32_t *spans = (const int32_t *)arg_array(c, 18, "spans", napi_int32_array, 0, &lsp);
  a->lse = (float *)arg_array(c, 19, "lse", napi_float32_array, !lseRequired, &llse);
  if (!c->failed && lsp % 6) fail(c, "'%s' length %lld is not a multiple of 6", "spans", lsp, 0);
  for (int t = 0; t < 4 && !c->failed; t++)
    if (rs[t] < heads * hd) fail(c, "%s %lld is below heads*headDim %lld", rsn[t], rs[t], heads * hd);
  const int64_t len[4] = {lq, lk, lv, lo}, rowsOf[4] = {qLen, kLen, kLen, qLen};
  static const char *names[4] = {"q", "k", "v", "out"};
  for (int t = 0; t < 4; t++) need(c, names[t], len[t], extent2d(batch, bs[t], rowsOf[t], heads * hd, rs[t]));
  if (a->lse) need(c, "lse", llse, batch * heads * qLen);
  check_spans(c, spans, lsp / 6, qLen, kLen);
  if (c->failed) return;
  a->batch = (int)batch, a->heads = (int)heads, a->headDim = (int)hd, a->qLen = (int)qLen, a->kLen = (int)kLen;
  a->qRowStride = (int)rs[0], a->kRowStride = (int)rs[1], a->vRowStride = (int)rs[2], a->outRowStride = (int)rs[3];
  a->qBatchStride = bs[0], a->kBatchStride = bs[1], a->vBatchStride = bs[2], a->outBatchStride = bs[3];
  a->spans = spans, a->nSpans = (int)(lsp / 6);
}

/* attention(batch, heads, headDim, qLen, kLen, q, k, v, out, qRS, kRS, vRS, oRS, qBS, kBS, vBS, oBS, scale, spans,
 * lse) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "attention", 20)) return NULL;
  bd_attention_args a;
  attention_args(&c, &a, 0);
  if (c.failed) return NULL;
  bd_attention(&a);
  return undefined(env);
}

/* ---- training ---- */

/* layerNormBackward(dout, x, stats, rows, dim, w, shift, scale, modStride, rowsPerGroup, dx, dw, dshift, dscale) */
static napi_value js_layernorm_backward(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "layerNormBackward", 14)) return NULL;
  int64_t ldo, lx, lst, lw, lsh, lsc, ldx, ldw, ldsh, ldsc;
  float *dout = F32(0, "dout", &ldo), *x = F32(1, "x", &lx), *stats = F32(2, "stats", &lst);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  float *w = F32(5, "weight", &lw), *shift = F32_OPT(6, "shift", &lsh), *scale = F32_OPT(7, "scale", &lsc);
  int64_t modStride = arg_int(&c, 8, "modStride", 0, I32MAX), rpg = arg_int(&c, 9, "rowsPerGroup", 1, I32MAX);
  float *dx = F32(10, "dx", &ldx), *dw = F32(11, "dweight", &ldw);
  float *dshift = F32_OPT(12, "dshift", &ldsh), *dscale = F32_OPT(13, "dscale", &ldsc);
  need(&c, "dout", ldo, rows * dim);
  need(&c, "x", lx, rows * dim);
  need(&c, "stats", lst, 2 * rows);
  need(&c, "weight", lw, dim);
  need(&c, "dx", ldx, rows * dim);
  need(&c, "dweight", ldw, dim);
  const int64_t modExtent = rows > 0 ? (rows - 1) / rpg * modStride + dim : 0;
  if (shift) need(&c, "shift", lsh, modExtent);
  if (scale) need(&c, "scale", lsc, modExtent);
  if (dshift) need(&c, "dshift", ldsh, modExtent);
  if (dscale) need(&c, "dscale", ldsc, modExtent);
  if (c.failed) return NULL;
  bd_layernorm_backward(dout, x, stats, (int)rows, (int)dim, w, shift, scale, (int)modStride, (int)rpg, dx, dw, dshift,
                        dscale);
  return undefined(env);
}

/* gatedResidualBackward(dh, y, gate, rows, dim, gateStride, rowsPerGroup, dy, dgate) */
static napi_value js_gated_residual_backward(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "gatedResidualBackward", 9)) return NULL;
  int64_t lh, ly, lg, ldy, ldg;
  float *dh = F32(0, "dh", &lh), *y = F32(1, "y", &ly), *gate = F32_OPT(2, "gate", &lg);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  int64_t gs = arg_int(&c, 5, "gateStride", 0, I32MAX), rpg = arg_int(&c, 6, "rowsPerGroup", 1, I32MAX);
  float *dy = F32(7, "dy", &ldy), *dgate = F32_OPT(8, "dgate", &ldg);
  need(&c, "dh", lh, rows * dim);
  need(&c, "y", ly, rows * dim);
  need(&c, "dy", ldy, rows * dim);
  const int64_t gExtent = rows > 0 ? (rows - 1) / rpg * gs + dim : 0;
  if (gate) need(&c, "gate", lg, gExtent);
  if (dgate) need(&c, "dgate", ldg, gExtent);
  if (!c.failed && gate && !dgate) fail(&c, "'%s' is required when gate is given", "dgate", 0, 0);
  if (c.failed) return NULL;
  bd_gated_residual_backward(dh, y, gate, (int)rows, (int)dim, (int)gs, (int)rpg, dy, dgate);
  return undefined(env);
}

/* geluTanhBackward(x, dout, dx, n) */
static napi_value js_gelu_backward(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "geluTanhBackward", 4)) return NULL;
  int64_t lx, ldo, ldx;
  float *x = F32(0, "x", &lx), *dout = F32(1, "dout", &ldo), *dx = F32(2, "dx", &ldx);
  int64_t n = arg_int(&c, 3, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  need(&c, "dout", ldo, n);
  need(&c, "dx", ldx, n);
  if (c.failed) return NULL;
  bd_gelu_tanh_backward(x, dout, dx, n);
  return undefined(env);
}

/* attentionBackward(<the 20 arguments of attention, lse required>, dout, dq, dk, dv); dout uses out's strides and
 * dq/dk/dv those of q/k/v */
static napi_value js_attention_backward(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "attentionBackward", 24)) return NULL;
  bd_attention_backward_args a;
  attention_args(&c, &a.fwd, 1);
  int64_t len[4];
  float *arr[4];
  static const char *names[4] = {"dout", "dq", "dk", "dv"};
  for (int t = 0; t < 4; t++) arr[t] = F32(20 + t, names[t], &len[t]);
  if (c.failed) return NULL;
  const bd_attention_args *f = &a.fwd;
  const int64_t w = (int64_t)f->heads * f->headDim;
  need(&c, "dout", len[0], extent2d(f->batch, f->outBatchStride, f->qLen, w, f->outRowStride));
  need(&c, "dq", len[1], extent2d(f->batch, f->qBatchStride, f->qLen, w, f->qRowStride));
  need(&c, "dk", len[2], extent2d(f->batch, f->kBatchStride, f->kLen, w, f->kRowStride));
  need(&c, "dv", len[3], extent2d(f->batch, f->vBatchStride, f->kLen, w, f->vRowStride));
  if (c.failed) return NULL;
  a.dout = arr[0], a.dq = arr[1], a.dk = arr[2], a.dv = arr[3];
  bd_attention_backward(&a);
  return undefined(env);
}

/* embeddingBackward(dout, ids, n, dim, dtable) */
static napi_value js_embedding_backward(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "embeddingBackward", 5)) return NULL;
  int64_t ldo, lids, lt;
  float *dout = F32(0, "dout", &ldo);
  int32_t *ids = (int32_t *)arg_array(&c, 1, "ids", napi_int32_array, 0, &lids);
  int64_t n = arg_int(&c, 2, "n", 0, I32MAX), dim = arg_int(&c, 3, "dim", 0, I32MAX);
  float *dtable = F32(4, "dtable", &lt);
  need(&c, "ids", lids, n);
  need(&c, "dout", ldo, n * dim);
  check_ids(&c, ids, n, lt, dim);
  if (c.failed) return NULL;
  bd_embedding_backward(dout, ids, (int)n, (int)dim, dtable);
  return undefined(env);
}

/* adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale) */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "adamw", 12)) return NULL;
  int64_t lp, lg, lm, lv;
  float *p = F32(0, "param", &lp), *g = F32(1, "grad", &lg), *m = F32(2, "m", &lm), *v = F32(3, "v", &lv);
  int64_t n = arg_int(&c, 4, "n", 0, I53MAX);
  double lr = arg_num(&c, 5, "lr"), b1 = arg_num(&c, 6, "beta1"), b2 = arg_num(&c, 7, "beta2");
  double eps = arg_num(&c, 8, "eps"), wd = arg_num(&c, 9, "weightDecay");
  int64_t step = arg_int(&c, 10, "step", 1, I32MAX);
  double gs = arg_num(&c, 11, "gradScale");
  need(&c, "param", lp, n);
  need(&c, "grad", lg, n);
  need(&c, "m", lm, n);
  need(&c, "v", lv, n);
  if (!c.failed && !(b1 >= 0 && b1 < 1)) fail(&c, "'%s' must be in [0, 1)", "beta1", 0, 0);
  if (!c.failed && !(b2 >= 0 && b2 < 1)) fail(&c, "'%s' must be in [0, 1)", "beta2", 0, 0);
  if (c.failed) return NULL;
  bd_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, (int)step, gs);
  return undefined(env);
}

/* emaUpdate(shadow, param, n, decay) */
static napi_value js_ema_update(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "emaUpdate", 4)) return NULL;
  int64_t ls, lp;
  float *s = F32(0, "shadow", &ls), *p = F32(1, "param", &lp);
  int64_t n = arg_int(&c, 2, "n", 0, I53MAX);
  double decay = arg_num(&c, 3, "decay");
  need(&c, "shadow", ls, n);
  need(&c, "param", lp, n);
  if (c.failed) return NULL;
  bd_ema_update(s, p, n, (float)decay);
  return undefined(env);
}

/* sumSquares(x, n) -> number */
static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "sumSquares", 2)) return NULL;
  int64_t lx;
  float *x = F32(0, "x", &lx);
  int64_t n = arg_int(&c, 1, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  if (c.failed) return NULL;
  napi_value r;
  napi_create_double(env, bd_sum_squares(x, n), &r);
  return r;
}

static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, bd_num_threads(), &v);
  return v;
}

#ifdef __F16C__
#define BD_F16C_NAME "+f16c"
#else
#define BD_F16C_NAME ""
#endif

/* { openblas: boolean, openblasCore: string | null, simd: string, w8a8: string, threads: number } */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_get_boolean(env, bd_sgemm_uses_openblas() != 0, &v);
  napi_set_named_property(env, o, "openblas", v);
  const char *core = bd_sgemm_openblas_core();
  if (core) napi_create_string_utf8(env, core, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  napi_set_named_property(env, o, "openblasCore", v);
#if defined(__AVX2__) && defined(__FMA__)
  const char *simd = "avx2+fma" BD_F16C_NAME;
#else
  const char *simd = "generic";
#endif
  napi_create_string_utf8(env, simd, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "simd", v);
  napi_create_string_utf8(env, bd_w8a8_kernel(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "w8a8", v);
  napi_create_int32(env, bd_num_threads(), &v);
  napi_set_named_property(env, o, "threads", v);
  return o;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"sgemm", js_sgemm},       {"layerNorm", js_layernorm}, {"gatedResidual", js_gated_residual},
      {"geluTanh", js_gelu},     {"softmax", js_softmax},     {"logSoftmax", js_log_softmax},
      {"logsumexp", js_logsumexp}, {"rotary", js_rotary},     {"embedding", js_embedding},
      {"attention", js_attention}, {"threads", js_threads},   {"info", js_info},
      {"layerNormBackward", js_layernorm_backward}, {"gatedResidualBackward", js_gated_residual_backward},
      {"geluTanhBackward", js_gelu_backward}, {"attentionBackward", js_attention_backward},
      {"embeddingBackward", js_embedding_backward}, {"adamw", js_adamw}, {"emaUpdate", js_ema_update},
      {"sumSquares", js_sum_squares}, {"sgemmHalf", js_sgemm_half}, {"embeddingHalf", js_embedding_half},
      {"sgemmQ8", js_sgemm_q8}, {"sgemmW8A8", js_sgemm_w8a8}, {"embeddingQ8", js_embedding_q8},
      {"sampleRows", js_sample_rows},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    napi_set_named_property(env, exports, fns[i].name, f);
  }
#ifdef BD_HAVE_OPENBLAS
  /* one pool's worth of threads in total: OpenBLAS and our pool never run at the same time */
  openblas_set_num_threads(bd_num_threads());
#endif
  return exports;
}
