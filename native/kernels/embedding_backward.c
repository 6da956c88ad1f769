/* dtable[ids[i]] += dout[i]. Repeated ids must add up without races: threads split the columns (EB_COLS wide
 * slices) and each walks all ids in order, so every element sees the same float adds in the same order as the
 * sequential reference (bit-identical, deterministic). */
#include "../kernels.h"
#include "../parallel.h"

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
