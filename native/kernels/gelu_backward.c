/* dx = dout * GELU_tanh'(x). With s = sigmoid(2u) = 0.5 (1 + tanh u) (the forward's identity, one exp, no
 * cancellation): GELU = x s, so GELU' = s + 2 x s (1 - s) u'. exp overflow gives s = 0 and the correct limit 0. */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

#define GB_CHUNK 4096

typedef struct {
  const float *x, *dout;
  float *dx;
  int64_t n;
} gb_ctx;

static inline vf gelu_grad(vf x) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  vf x2 = x * x;
  vf u = k * (x + 0.044715f * x2 * x), du = k * (1.0f + 3.0f * 0.044715f * x2);
  vf s = 1.0f / (1.0f + bd_vexp(-2.0f * u));
  return s + 2.0f * x * s * (1.0f - s) * du;
}

static void gb_chunks(void *p, int b0, int b1, int tid) {
  (void)tid;
  const gb_ctx *c = (const gb_ctx *)p;
  int64_t i = (int64_t)b0 * GB_CHUNK, end = (int64_t)b1 * GB_CHUNK;
  if (end > c->n) end = c->n;
  for (; i + BD_VL <= end; i += BD_VL) vstore(c->dx + i, vload(c->dout + i) * gelu_grad(vload(c->x + i)));
  if (i < end) {
    const int t = (int)(end - i);
    vstore_part(c->dx + i, vload_part(c->dout + i, t, 0) * gelu_grad(vload_part(c->x + i, t, 0)), t);
  }
}

void bd_gelu_tanh_backward(const float *x, const float *dout, float *dx, int64_t n) {
  if (n <= 0) return;
  gb_ctx c = {x, dout, dx, n};
  bd_parallel_for((int)((n + GB_CHUNK - 1) / GB_CHUNK), 4, gb_chunks, &c);
}
