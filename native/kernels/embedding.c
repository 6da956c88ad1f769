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
