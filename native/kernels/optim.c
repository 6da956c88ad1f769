/* Optimizer-side elementwise kernels: AdamW (torch.optim.AdamW's order of operations), EMA of the weights, and a
 * double-precision sum of squares for gradient norms. Fixed chunks; the sum's partials are combined in chunk order
 * so it is deterministic for any thread count. */
#include "../kernels.h"
#include "../parallel.h"

#define OPT_CHUNK 16384

static int opt_chunks(int64_t n) { return (int)((n + OPT_CHUNK - 1) / OPT_CHUNK); }

/* b^t in double by squaring (no libm in the wasm build) */
static double powi(double b, int t) {
  double r = 1;
  for (; t > 0; t >>= 1, b *= b)
    if (t & 1) r *= b;
  return r;
}

typedef struct {
  float *p, *m, *v;
  const float *g;
  int64_t n;
  float decayMul, b1, b2, omb1, omb2, stepSize, bc2Sqrt, eps, gradScale;
} adamw_ctx;

static void adamw_chunks(void *ctx, int c0, int c1, int tid) {
  (void)tid;
  const adamw_ctx *c = (const adamw_ctx *)ctx;
  int64_t i0 = (int64_t)c0 * OPT_CHUNK, i1 = (int64_t)c1 * OPT_CHUNK;
  if (i1 > c->n) i1 = c->n;
  float *restrict p = c->p, *restrict m = c->m, *restrict v = c->v;
  const float *restrict gr = c->g;
  for (int64_t i = i0; i < i1; i++) {
    const float g = gr[i] * c->gradScale;
    const float mi = c->b1 * m[i] + c->omb1 * g, vi = c->b2 * v[i] + c->omb2 * g * g;
    m[i] = mi, v[i] = vi;
    const float denom = __builtin_sqrtf(vi) / c->bc2Sqrt + c->eps, pd = p[i] * c->decayMul;
    p[i] = pd - c->stepSize * (mi / denom); /* addcdiv: value * (m / denom) */
  }
}

void bd_adamw(float *p, const float *grad, float *m, float *v, int64_t n, double lr, double b1, double b2, double eps,
              double wd, int step, double gradScale) {
  if (n <= 0) return;
  /* scalars as torch computes them: Python floats (double), each rounded to float32 where it meets the tensors */
  const double bc1 = 1.0 - powi(b1, step), bc2 = 1.0 - powi(b2, step);
  adamw_ctx c = {p, m, v, grad, n, (float)(1.0 - lr * wd), (float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2),
                 (float)(lr / bc1), (float)__builtin_sqrt(bc2), (float)eps, (float)gradScale};
  bd_parallel_for(opt_chunks(n), 4, adamw_chunks, &c);
}

typedef struct {
  float *s;
  const float *p;
  int64_t n;
  float k;
} ema_ctx;

static void ema_chunks(void *ctx, int c0, int c1, int tid) {
  (void)tid;
  const ema_ctx *c = (const ema_ctx *)ctx;
  int64_t i0 = (int64_t)c0 * OPT_CHUNK, i1 = (int64_t)c1 * OPT_CHUNK;
  if (i1 > c->n) i1 = c->n;
  float *restrict s = c->s;
  const float *restrict p = c->p;
  for (int64_t i = i0; i < i1; i++) s[i] -= c->k * (s[i] - p[i]);
}

void bd_ema_update(float *shadow, const float *param, int64_t n, float decay) {
  if (n <= 0) return;
  ema_ctx c = {shadow, param, n, (float)(1.0 - (double)decay)};
  bd_parallel_for(opt_chunks(n), 4, ema_chunks, &c);
}

typedef double vd4 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

typedef struct {
  const float *x;
  int64_t n;
  double *part;
} ss_ctx;

static void ss_chunks(void *ctx, int c0, int c1, int tid) {
  (void)tid;
  const ss_ctx *c = (const ss_ctx *)ctx;
  for (int ch = c0; ch < c1; ch++) {
    int64_t i = (int64_t)ch * OPT_CHUNK, end = i + OPT_CHUNK < c->n ? i + OPT_CHUNK : c->n;
    vd4 a = {0, 0, 0, 0}, b = a;
    for (; i + 8 <= end; i += 8) {
      vf4 x0, x1;
      __builtin_memcpy(&x0, c->x + i, 16);
      __builtin_memcpy(&x1, c->x + i + 4, 16);
      vd4 d0 = __builtin_convertvector(x0, vd4), d1 = __builtin_convertvector(x1, vd4);
      a += d0 * d0, b += d1 * d1;
    }
    a += b;
    double s = (a[0] + a[1]) + (a[2] + a[3]);
    for (; i < end; i++) s += (double)c->x[i] * c->x[i];
    c->part[ch] = s;
  }
}

double bd_sum_squares(const float *x, int64_t n) {
  if (n <= 0) return 0;
  const int nc = opt_chunks(n);
  double one, *part = nc == 1 ? &one : (double *)bd_alloc(sizeof(double) * (size_t)nc);
  if (!part) { /* out of memory: sequential, still exact */
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
  }
  ss_ctx c = {x, n, part};
  bd_parallel_for(nc, 4, ss_chunks, &c);
  double s = 0;
  for (int i = 0; i < nc; i++) s += part[i];
  if (part != &one) bd_free(part);
  return s;
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale) */
BD_NAPI(adamw) {
  call_t c;
  if (!begin(&c, env, info, "adamw", 12)) return NULL;
  int64_t lp, lg, lm, lv;
  float *p = F32(0, "param", &lp), *g = F32(1, "grad", &lg), *m = F32(2, "m", &lm), *v = F32(3, "v", &lv);
  int64_t n = arg_int(&c, 4, "n", 0, I53MAX);
  double lr = arg_num(&c, 5, "lr"), b1 = arg_num(&c, 6, "beta1"), b2 = arg_num(&c, 7, "beta2");
  double eps = arg_num(&c, 8, "eps"), wd = arg_num(&c, 9, "weightDecay");
  int64_t step = arg_int(&c, 10, "step", 1, I32MAX);
  double gs = arg_num(&c, 11, "gradScale");
  need(&c, "param", lp, n);
  need(&c, "grad", lg, n);
  need(&c, "m", lm, n);
  need(&c, "v", lv, n);
  if (!c.failed && !(b1 >= 0 && b1 < 1)) fail(&c, "'%s' must be in [0, 1)", "beta1", 0, 0);
  if (!c.failed && !(b2 >= 0 && b2 < 1)) fail(&c, "'%s' must be in [0, 1)", "beta2", 0, 0);
  if (c.failed) return NULL;
  bd_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, (int)step, gs);
  return undefined(env);
}

/* emaUpdate(shadow, param, n, decay) */
BD_NAPI(ema_update) {
  call_t c;
  if (!begin(&c, env, info, "emaUpdate", 4)) return NULL;
  int64_t ls, lp;
  float *s = F32(0, "shadow", &ls), *p = F32(1, "param", &lp);
  int64_t n = arg_int(&c, 2, "n", 0, I53MAX);
  double decay = arg_num(&c, 3, "decay");
  need(&c, "shadow", ls, n);
  need(&c, "param", lp, n);
  if (c.failed) return NULL;
  bd_ema_update(s, p, n, (float)decay);
  return undefined(env);
}

/* sumSquares(x, n) -> number */
BD_NAPI(sum_squares) {
  call_t c;
  if (!begin(&c, env, info, "sumSquares", 2)) return NULL;
  int64_t lx;
  float *x = F32(0, "x", &lx);
  int64_t n = arg_int(&c, 1, "n", 0, I53MAX);
  need(&c, "x", lx, n);
  if (c.failed) return NULL;
  napi_value r;
  napi_create_double(env, bd_sum_squares(x, n), &r);
  return r;
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(adamw) void w_adamw(float *p, const float *g, float *m, float *v, int n, double lr, double b1, double b2,
                             double eps, double wd, int step, double gradScale) {
  bd_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step, gradScale);
}

BD_WASM(ema_update) void w_ema_update(float *shadow, const float *param, int n, float decay) {
  bd_ema_update(shadow, param, n, decay);
}

BD_WASM(sum_squares) double w_sum_squares(const float *x, int n) { return bd_sum_squares(x, n); }
#endif
