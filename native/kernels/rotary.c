/* Half-split (GPT-NeoX) rotary embedding in place (see kernels.h); rows in parallel. */
#include "../kernels.h"
#include "../parallel.h"

typedef struct {
  float *x;
  const float *cos, *sin;
  int rowStride, heads, headDim, pos0, seqLen;
} rot_ctx;

static void rot_rows(void *p, int r0, int r1, int tid) {
  (void)tid;
  const rot_ctx *c = (const rot_ctx *)p;
  const int half = c->headDim / 2;
  for (int r = r0; r < r1; r++) {
    const int64_t t = (int64_t)(c->pos0 + r % c->seqLen) * half;
    const float *restrict cs = c->cos + t, *restrict sn = c->sin + t;
    for (int h = 0; h < c->heads; h++) {
      float *restrict a = c->x + (int64_t)r * c->rowStride + (int64_t)h * c->headDim, *restrict b = a + half;
      for (int j = 0; j < half; j++) {
        float x1 = a[j], x2 = b[j];
        a[j] = x1 * cs[j] - x2 * sn[j];
        b[j] = x2 * cs[j] + x1 * sn[j];
      }
    }
  }
}

void bd_rotary(float *x, int rows, int rowStride, int heads, int headDim, const float *cos, const float *sin,
               int pos0, int seqLen) {
  if (rows <= 0 || heads <= 0 || headDim < 2) return;
  rot_ctx c = {x, cos, sin, rowStride, heads, headDim, pos0, seqLen > 0 ? seqLen : rows};
  bd_parallel_for(rows, 16384 / (heads * headDim) + 1, rot_rows, &c);
}
