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

/* ---- backward ---- */

/* Backward of bd_gated_residual (see kernels.h): dy = gate[g] * dh, dgate[g] += sum over the group's rows dh * y.
 * Rows run in parallel in fixed chunks of RB_CHUNK rows inside one gate group; each chunk keeps its own dgate
 * partial, summed in chunk order afterwards (deterministic for any thread count). */

#define RB_CHUNK 64

typedef struct {
  const float *dh, *y, *gate;
  float *dy, *part; /* part: per chunk [dim] partial of dgate (only with a gate and dgate) */
  int rows, dim, gateStride, rpg, perGroup;
} rb_ctx;

static void rb_chunks(void *p, int c0, int c1, int tid) {
  (void)tid;
  const rb_ctx *c = (const rb_ctx *)p;
  const int d = c->dim;
  for (int ch = c0; ch < c1; ch++) {
    const int g = ch / c->perGroup;
    int r0 = g * c->rpg + (ch % c->perGroup) * RB_CHUNK, r1 = r0 + RB_CHUNK;
    if (r1 > (g + 1) * c->rpg) r1 = (g + 1) * c->rpg;
    if (r1 > c->rows) r1 = c->rows;
    float *restrict pg = c->part ? c->part + (int64_t)ch * d : 0;
    if (pg)
      for (int j = 0; j < d; j++) pg[j] = 0;
    const float *restrict gt = c->gate ? c->gate + (int64_t)g * c->gateStride : 0;
    for (int r = r0; r < r1; r++) {
      const float *dh = c->dh + (int64_t)r * d, *restrict y = c->y + (int64_t)r * d;
      float *dy = c->dy + (int64_t)r * d;
      if (pg)
        for (int j = 0; j < d; j++) pg[j] += dh[j] * y[j]; /* before dy is written: dy may alias dh */
      if (gt)
        for (int j = 0; j < d; j++) dy[j] = gt[j] * dh[j];
      else if (dy != dh)
        for (int j = 0; j < d; j++) dy[j] = dh[j];
    }
  }
}

typedef struct {
  const rb_ctx *c;
  float *dgate;
  int nGroups;
} rb_sum_ctx;

static void rb_sum(void *p, int j0, int j1, int tid) {
  (void)tid;
  const rb_sum_ctx *s = (const rb_sum_ctx *)p;
  const rb_ctx *c = s->c;
  for (int g = 0; g < s->nGroups; g++)
    for (int j = j0; j < j1; j++) {
      float acc = 0;
      for (int k = 0; k < c->perGroup; k++) acc += c->part[(int64_t)(g * c->perGroup + k) * c->dim + j];
      s->dgate[(int64_t)g * c->gateStride + j] += acc;
    }
}

void bd_gated_residual_backward(const float *dh, const float *y, const float *gate, int rows, int dim,
                                int gateStride, int rowsPerGroup, float *dy, float *dgate) {
  if (rows <= 0 || dim <= 0) return;
  const int rpg = rowsPerGroup > 0 && rowsPerGroup < rows ? rowsPerGroup : rows;
  const int perGroup = (rpg + RB_CHUNK - 1) / RB_CHUNK, nG = (rows + rpg - 1) / rpg, nChunks = nG * perGroup;
  float *part = 0;
  if (gate && dgate) {
    part = (float *)bd_alloc(sizeof(float) * (size_t)dim * (size_t)nChunks);
    if (!part) return; /* out of memory: outputs untouched */
  }
  rb_ctx c = {dh, y, gate, dy, part, rows, dim, gateStride, rpg, perGroup};
  bd_parallel_for(nChunks, 1, rb_chunks, &c);
  if (part) {
    rb_sum_ctx s = {&c, dgate, nG};
    bd_parallel_for(dim, 64, rb_sum, &s);
    bd_free(part);
  }
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* gatedResidual(h, y, gate, rows, dim, gateStride, rowsPerGroup) */
BD_NAPI(gated_residual) {
  call_t c;
  if (!begin(&c, env, info, "gatedResidual", 7)) return NULL;
  int64_t lh, ly, lg;
  float *h = F32(0, "h", &lh), *y = F32(1, "y", &ly), *gate = F32_OPT(2, "gate", &lg);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  int64_t gs = arg_int(&c, 5, "gateStride", 0, I32MAX), rpg = arg_int(&c, 6, "rowsPerGroup", 1, I32MAX);
  need(&c, "h", lh, rows * dim);
  need(&c, "y", ly, rows * dim);
  if (gate && rows > 0) need(&c, "gate", lg, (rows - 1) / rpg * gs + dim);
  if (c.failed) return NULL;
  bd_gated_residual(h, y, gate, (int)rows, (int)dim, (int)gs, (int)rpg);
  return undefined(env);
}

/* gatedResidualBackward(dh, y, gate, rows, dim, gateStride, rowsPerGroup, dy, dgate) */
BD_NAPI(gated_residual_backward) {
  call_t c;
  if (!begin(&c, env, info, "gatedResidualBackward", 9)) return NULL;
  int64_t lh, ly, lg, ldy, ldg;
  float *dh = F32(0, "dh", &lh), *y = F32(1, "y", &ly), *gate = F32_OPT(2, "gate", &lg);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  int64_t gs = arg_int(&c, 5, "gateStride", 0, I32MAX), rpg = arg_int(&c, 6, "rowsPerGroup", 1, I32MAX);
  float *dy = F32(7, "dy", &ldy), *dgate = F32_OPT(8, "dgate", &ldg);
  need(&c, "dh", lh, rows * dim);
  need(&c, "y", ly, rows * dim);
  need(&c, "dy", ldy, rows * dim);
  const int64_t gExtent = rows > 0 ? (rows - 1) / rpg * gs + dim : 0;
  if (gate) need(&c, "gate", lg, gExtent);
  if (dgate) need(&c, "dgate", ldg, gExtent);
  if (!c.failed && gate && !dgate) fail(&c, "'%s' is required when gate is given", "dgate", 0, 0);
  if (c.failed) return NULL;
  bd_gated_residual_backward(dh, y, gate, (int)rows, (int)dim, (int)gs, (int)rpg, dy, dgate);
  return undefined(env);
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(gated_residual) void w_gated_residual(float *h, const float *y, const float *gate, int rows, int dim,
                                               int gateStride, int rowsPerGroup) {
  bd_gated_residual(h, y, gate, rows, dim, gateStride, rowsPerGroup);
}

BD_WASM(gated_residual_backward) void w_gated_residual_backward(const float *dh, const float *y, const float *gate,
                                                                 int rows, int dim, int gateStride,
                                                                 int rowsPerGroup, float *dy, float *dgate) {
  bd_gated_residual_backward(dh, y, gate, rows, dim, gateStride, rowsPerGroup, dy, dgate);
}
#endif
