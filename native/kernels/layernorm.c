/* LayerNorm without bias, optional adaLN modulation and saved stats (see kernels.h). Two-pass mean/variance in
 * vector accumulators (exact enough and cancellation-free); rows run in parallel. */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

typedef struct {
  const float *x, *w, *shift, *scale;
  float *out, *stats;
  int dim, modStride, rowsPerGroup;
  float eps;
} ln_ctx;

static void ln_rows(void *p, int r0, int r1, int tid) {
  (void)tid;
  const ln_ctx *c = (const ln_ctx *)p;
  const int d = c->dim, dv = d - d % BD_VL;
  for (int r = r0; r < r1; r++) {
    const float *x = c->x + (int64_t)r * d;
    float *out = c->out + (int64_t)r * d;
    vf s0 = vset1(0), s1 = vset1(0);
    int j = 0;
    for (; j + 2 * BD_VL <= d; j += 2 * BD_VL) s0 += vload(x + j), s1 += vload(x + j + BD_VL);
    for (; j < dv; j += BD_VL) s0 += vload(x + j);
    float sum = vhsum(s0 + s1);
    for (; j < d; j++) sum += x[j];
    const float mean = sum / (float)d;
    vf q0 = vset1(0), q1 = vset1(0);
    for (j = 0; j + 2 * BD_VL <= d; j += 2 * BD_VL) {
      vf a = vload(x + j) - mean, b = vload(x + j + BD_VL) - mean;
      q0 += a * a, q1 += b * b;
    }
    for (; j < dv; j += BD_VL) {
      vf a = vload(x + j) - mean;
      q0 += a * a;
    }
    float var = vhsum(q0 + q1);
    for (; j < d; j++) var += (x[j] - mean) * (x[j] - mean);
    const float rstd = 1.0f / bd_sqrtf(var / (float)d + c->eps);
    const int64_t g = (int64_t)(r / c->rowsPerGroup) * c->modStride;
    const float *sh = c->shift ? c->shift + g : 0, *sc = c->scale ? c->scale + g : 0;
    /* one loop per modulation variant so each stays a simple vectorisable stream; out may alias x */
    if (sh && sc)
      for (j = 0; j < d; j++) out[j] = (x[j] - mean) * rstd * c->w[j] * (1.0f + sc[j]) + sh[j];
    else if (sc)
      for (j = 0; j < d; j++) out[j] = (x[j] - mean) * rstd * c->w[j] * (1.0f + sc[j]);
    else if (sh)
      for (j = 0; j < d; j++) out[j] = (x[j] - mean) * rstd * c->w[j] + sh[j];
    else
      for (j = 0; j < d; j++) out[j] = (x[j] - mean) * rstd * c->w[j];
    if (c->stats) c->stats[2 * (int64_t)r] = mean, c->stats[2 * (int64_t)r + 1] = rstd;
  }
}

void bd_layernorm(const float *x, float *out, int rows, int dim, const float *w, float eps, const float *shift,
                  const float *scale, int modStride, int rowsPerGroup, float *stats) {
  if (rows <= 0 || dim <= 0) return;
  ln_ctx c = {x, w, shift, scale, out, stats, dim, modStride, rowsPerGroup > 0 ? rowsPerGroup : rows, eps};
  int grain = 16384 / dim + 1;
  bd_parallel_for(rows, grain, ln_rows, &c);
}
