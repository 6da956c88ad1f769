/* Gated residual h += gate[g] * y (see kernels.h); a streaming loop the compiler vectorises, rows in parallel. */
#include "../kernels.h"
#include "../parallel.h"

typedef struct {
  float *h;
  const float *y, *gate;
  int dim, gateStride, rowsPerGroup;
} res_ctx;

static void res_rows(void *p, int r0, int r1, int tid) {
  (void)tid;
  const res_ctx *c = (const res_ctx *)p;
  const int d = c->dim;
  for (int r = r0; r < r1; r++) {
    float *restrict h = c->h + (int64_t)r * d;
    const float *restrict y = c->y + (int64_t)r * d;
    if (c->gate) {
      const float *restrict g = c->gate + (int64_t)(r / c->rowsPerGroup) * c->gateStride;
      for (int j = 0; j < d; j++) h[j] += g[j] * y[j];
    } else {
      for (int j = 0; j < d; j++) h[j] += y[j];
    }
  }
}

void bd_gated_residual(float *h, const float *y, const float *gate, int rows, int dim, int gateStride,
                       int rowsPerGroup) {
  if (rows <= 0 || dim <= 0) return;
  res_ctx c = {h, y, gate, dim, gateStride, rowsPerGroup > 0 ? rowsPerGroup : rows};
  bd_parallel_for(rows, 32768 / dim + 1, res_rows, &c);
}
