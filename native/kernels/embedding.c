/* Embedding gather: out[i] = table[ids[i]] (ids are validated by the caller), from fp32, half or int8 tables; rows
 * in parallel. */
#include "../kernels.h"
#include "../parallel.h"
#include "../half.h"
#include "../q8.h"

typedef struct {
  const float *table;
  const int32_t *ids;
  float *out;
  int dim;
} emb_ctx;

static void emb_rows(void *p, int i0, int i1, int tid) {
  (void)tid;
  const emb_ctx *c = (const emb_ctx *)p;
  for (int i = i0; i < i1; i++)
    __builtin_memcpy(c->out + (int64_t)i * c->dim, c->table + (int64_t)c->ids[i] * c->dim, (size_t)c->dim * 4);
}

void bd_embedding(const float *table, const int32_t *ids, int n, int dim, float *out) {
  if (n <= 0 || dim <= 0) return;
  emb_ctx c = {table, ids, out, dim};
  bd_parallel_for(n, 65536 / dim + 1, emb_rows, &c);
}

typedef struct {
  const uint16_t *table;
  const int32_t *ids;
  float *out;
  int dim, fmt;
} emb_half_ctx;

static void emb_half_rows(void *p, int i0, int i1, int tid) {
  (void)tid;
  const emb_half_ctx *c = (const emb_half_ctx *)p;
  for (int i = i0; i < i1; i++)
    bd_half_row(c->table + (int64_t)c->ids[i] * c->dim, c->out + (int64_t)i * c->dim, c->dim, c->fmt);
}

void bd_embedding_half(const uint16_t *table, int fmt, const int32_t *ids, int n, int dim, float *out) {
  if (n <= 0 || dim <= 0) return;
  emb_half_ctx c = {table, ids, out, dim, fmt};
  bd_parallel_for(n, 65536 / dim + 1, emb_half_rows, &c);
}

typedef struct {
  const int8_t *table;
  const float *scales;
  const int32_t *ids;
  float *out;
  int dim;
} emb_q8_ctx;

static void emb_q8_rows(void *p, int i0, int i1, int tid) {
  (void)tid;
  const emb_q8_ctx *c = (const emb_q8_ctx *)p;
  for (int i = i0; i < i1; i++) {
    int r = c->ids[i];
    bd_q8_row(c->table + (int64_t)r * c->dim, c->scales[r], c->out + (int64_t)i * c->dim, c->dim);
  }
}

void bd_embedding_q8(const int8_t *table, const float *scales, const int32_t *ids, int n, int dim, float *out) {
  if (n <= 0 || dim <= 0) return;
  emb_q8_ctx c = {table, scales, ids, out, dim};
  bd_parallel_for(n, 65536 / dim + 1, emb_q8_rows, &c);
}

/* ---- backward ---- */

/* dtable[ids[i]] += dout[i]. Repeated ids must add up without races: threads split the columns (EB_COLS wide
 * slices) and each walks all ids in order, so every element sees the same float adds in the same order as the
 * sequential reference (bit-identical, deterministic). */

#define EB_COLS 64

typedef struct {
  const float *dout;
  const int32_t *ids;
  float *dtable;
  int n, dim;
} eb_ctx;

static void eb_cols(void *p, int s0, int s1, int tid) {
  (void)tid;
  const eb_ctx *c = (const eb_ctx *)p;
  const int j0 = s0 * EB_COLS, j1 = s1 * EB_COLS < c->dim ? s1 * EB_COLS : c->dim;
  for (int i = 0; i < c->n; i++) {
    float *restrict t = c->dtable + (int64_t)c->ids[i] * c->dim;
    const float *restrict g = c->dout + (int64_t)i * c->dim;
    for (int j = j0; j < j1; j++) t[j] += g[j];
  }
}

void bd_embedding_backward(const float *dout, const int32_t *ids, int n, int dim, float *dtable) {
  if (n <= 0 || dim <= 0) return;
  eb_ctx c = {dout, ids, dtable, n, dim};
  bd_parallel_for((dim + EB_COLS - 1) / EB_COLS, 1, eb_cols, &c);
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
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
BD_NAPI(embedding) { return embedding_like(env, info, EMB_F32); }
BD_NAPI(embedding_half) { return embedding_like(env, info, EMB_HALF); }
BD_NAPI(embedding_q8) { return embedding_like(env, info, EMB_Q8); }

/* embeddingBackward(dout, ids, n, dim, dtable) */
BD_NAPI(embedding_backward) {
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
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(embedding) void w_embedding(const float *table, const int32_t *ids, int n, int dim, float *out) {
  bd_embedding(table, ids, n, dim, out);
}

BD_WASM(embedding_half) void w_embedding_half(const uint16_t *table, int fmt, const int32_t *ids, int n, int dim,
                                               float *out) {
  bd_embedding_half(table, fmt, ids, n, dim, out);
}

BD_WASM(embedding_q8) void w_embedding_q8(const int8_t *table, const float *scales, const int32_t *ids, int n,
                                           int dim, float *out) {
  bd_embedding_q8(table, scales, ids, n, dim, out);
}

BD_WASM(embedding_backward) void w_embedding_backward(const float *dout, const int32_t *ids, int n, int dim,
                                                       float *dtable) {
  bd_embedding_backward(dout, ids, n, dim, dtable);
}
#endif
