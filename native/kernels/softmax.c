/* Row-wise softmax / log-softmax / logsumexp (see kernels.h). Max pass, then a vectorised exp-sum pass; rows in
 * parallel. An all -inf row has logsumexp -inf (softmax and log-softmax are then NaN, as in PyTorch). */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

enum { SM_SOFTMAX, SM_LOG, SM_LSE };

typedef struct {
  const float *x;
  float *out;
  int cols, mode;
} sm_ctx;

static float row_max(const float *x, int n) {
  vf m0 = vset1(-BD_INF), m1 = m0;
  int j = 0;
  for (; j + 2 * BD_VL <= n; j += 2 * BD_VL) m0 = vmax(m0, vload(x + j)), m1 = vmax(m1, vload(x + j + BD_VL));
  float m = vhmax(vmax(m0, m1));
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* sum_j exp(x[j] - m); stores the exponentials into e when e != NULL */
static float row_expsum(const float *x, float m, int n, float *e) {
  vf s0 = vset1(0), s1 = vset1(0);
  int j = 0;
  for (; j + 2 * BD_VL <= n; j += 2 * BD_VL) {
    vf a = bd_vexp(vload(x + j) - m), b = bd_vexp(vload(x + j + BD_VL) - m);
    if (e) vstore(e + j, a), vstore(e + j + BD_VL, b);
    s0 += a, s1 += b;
  }
  for (; j < n; j += BD_VL) {
    int k = n - j < BD_VL ? n - j : BD_VL;
    vf a = bd_vexp(vload_part(x + j, k, -BD_INF) - m);
    if (e) vstore_part(e + j, a, k);
    s0 += a;
  }
  return vhsum(s0 + s1);
}

static void sm_rows(void *p, int r0, int r1, int tid) {
  (void)tid;
  const sm_ctx *c = (const sm_ctx *)p;
  const int n = c->cols;
  for (int r = r0; r < r1; r++) {
    const float *x = c->x + (int64_t)r * n;
    float m = row_max(x, n);
    if (c->mode == SM_SOFTMAX) {
      float *o = c->out + (int64_t)r * n;
      if (m == -BD_INF) {
        for (int j = 0; j < n; j++) o[j] = BD_NAN;
        continue;
      }
      float inv = 1.0f / row_expsum(x, m, n, o);
      for (int j = 0; j < n; j++) o[j] *= inv;
    } else {
      float lse = m == -BD_INF ? -BD_INF : m + bd_logf(row_expsum(x, m, n, 0));
      if (c->mode == SM_LSE) {
        c->out[r] = lse;
      } else {
        float *o = c->out + (int64_t)r * n;
        for (int j = 0; j < n; j++) o[j] = x[j] - lse;
      }
    }
  }
}

static void sm_run(const float *x, float *out, int rows, int cols, int mode) {
  if (rows <= 0 || cols <= 0) return;
  sm_ctx c = {x, out, cols, mode};
  bd_parallel_for(rows, 8192 / cols + 1, sm_rows, &c);
}

void bd_softmax(const float *x, float *out, int rows, int cols) { sm_run(x, out, rows, cols, SM_SOFTMAX); }
void bd_log_softmax(const float *x, float *out, int rows, int cols) { sm_run(x, out, rows, cols, SM_LOG); }
void bd_logsumexp(const float *x, float *out, int rows, int cols) { sm_run(x, out, rows, cols, SM_LSE); }

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* softmax / logSoftmax / logsumexp (x, out, rows, cols) */
static napi_value softmax_like(napi_env env, napi_callback_info info, const char *fn, int mode) {
  call_t c;
  if (!begin(&c, env, info, fn, 4)) return NULL;
  int64_t lx, lo;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t rows = arg_int(&c, 2, "rows", 0, I32MAX), cols = arg_int(&c, 3, "cols", 0, I32MAX);
  need(&c, "x", lx, rows * cols);
  need(&c, "out", lo, mode == 2 ? (cols > 0 ? rows : 0) : rows * cols);
  if (c.failed) return NULL;
  if (mode == 0) bd_softmax(x, out, (int)rows, (int)cols);
  else if (mode == 1) bd_log_softmax(x, out, (int)rows, (int)cols);
  else bd_logsumexp(x, out, (int)rows, (int)cols);
  return undefined(env);
}
BD_NAPI(softmax) { return softmax_like(env, info, "softmax", 0); }
BD_NAPI(log_softmax) { return softmax_like(env, info, "logSoftmax", 1); }
BD_NAPI(logsumexp) { return softmax_like(env, info, "logsumexp", 2); }
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(softmax) void w_softmax(const float *x, float *out, int r, int c) { bd_softmax(x, out, r, c); }

BD_WASM(log_softmax) void w_log_softmax(const float *x, float *out, int r, int c) { bd_log_softmax(x, out, r, c); }

BD_WASM(logsumexp) void w_logsumexp(const float *x, float *out, int r, int c) { bd_logsumexp(x, out, r, c); }
#endif
