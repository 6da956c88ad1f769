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

/* ---- backward ---- */

/* dx = dout * GELU_tanh'(x). With s = sigmoid(2u) = 0.5 (1 + tanh u) (the forward's identity, one exp, no
 * cancellation): GELU = x s, so GELU' = s + 2 x s (1 - s) u'. exp overflow gives s = 0 and the correct limit 0. */

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

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* geluTanh(x, out, n) */
BD_NAPI(gelu_tanh) {
  call_t c;
  if (!begin(&c, env, info, "geluTanh", 3)) return NULL;
  int64_t lx, lo;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t n = arg_int(&c, 2, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  need(&c, "out", lo, n);
  if (c.failed) return NULL;
  bd_gelu_tanh(x, out, n);
  return undefined(env);
}

/* geluTanhBackward(x, dout, dx, n) */
BD_NAPI(gelu_tanh_backward) {
  call_t c;
  if (!begin(&c, env, info, "geluTanhBackward", 4)) return NULL;
  int64_t lx, ldo, ldx;
  float *x = F32(0, "x", &lx), *dout = F32(1, "dout", &ldo), *dx = F32(2, "dx", &ldx);
  int64_t n = arg_int(&c, 3, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  need(&c, "dout", ldo, n);
  need(&c, "dx", ldx, n);
  if (c.failed) return NULL;
  bd_gelu_tanh_backward(x, dout, dx, n);
  return undefined(env);
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(gelu_tanh) void w_gelu_tanh(const float *x, float *out, int n) { bd_gelu_tanh(x, out, n); }

BD_WASM(gelu_tanh_backward) void w_gelu_tanh_backward(const float *x, const float *dout, float *dx, int n) {
  bd_gelu_tanh_backward(x, dout, dx, n);
}
#endif
