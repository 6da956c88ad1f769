/* GELU, tanh approximation. Uses the identity 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): one exp, no cancellation
 * near tanh(u) = -1, and overflow of exp gives the correct limit (-0). */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

#define GELU_CHUNK 4096

typedef struct {
  const float *x;
  float *out;
  int64_t n;
} gelu_ctx;

static inline vf gelu_v(vf x) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  vf u = k * (x + 0.044715f * x * x * x);
  return x / (1.0f + bd_vexp(-2.0f * u));
}

static void gelu_chunks(void *p, int b0, int b1, int tid) {
  (void)tid;
  const gelu_ctx *c = (const gelu_ctx *)p;
  int64_t i = (int64_t)b0 * GELU_CHUNK, end = (int64_t)b1 * GELU_CHUNK;
  if (end > c->n) end = c->n;
  for (; i + BD_VL <= end; i += BD_VL) vstore(c->out + i, gelu_v(vload(c->x + i)));
  if (i < end) vstore_part(c->out + i, gelu_v(vload_part(c->x + i, (int)(end - i), 0)), (int)(end - i));
}

void bd_gelu_tanh(const float *x, float *out, int64_t n) {
  if (n <= 0) return;
  gelu_ctx c = {x, out, n};
  bd_parallel_for((int)((n + GELU_CHUNK - 1) / GELU_CHUNK), 4, gelu_chunks, &c);
}
