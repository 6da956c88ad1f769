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

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* rotary(x, rows, rowStride, heads, headDim, cos, sin, pos0, seqLen) */
BD_NAPI(rotary) {
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
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(rotary) void w_rotary(float *x, int rows, int rowStride, int heads, int headDim, const float *cos,
                               const float *sin, int pos0, int seqLen) {
  bd_rotary(x, rows, rowStride, heads, headDim, cos, sin, pos0, seqLen);
}
#endif
