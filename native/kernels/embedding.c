/* Embedding gather: out[i] = table[ids[i]] (ids are validated by the caller); rows in parallel. */
#include "../kernels.h"
#include "../parallel.h"

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
