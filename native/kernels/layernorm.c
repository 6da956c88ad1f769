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

/* ---- backward ---- */

/* Backward of bd_layernorm (see kernels.h). Rows run in parallel in fixed chunks of LNB_CHUNK rows that never
 * straddle a modulation group; each chunk writes its own partial dweight/dshift/dscale, and the partials are summed
 * in chunk order afterwards, so the result does not depend on the thread count or scheduling (bit-reproducible). */

#define LNB_CHUNK 64

/* n lanes (a full vector except at the row's tail) */
static inline vf ld(const float *p, int n) { return n == BD_VL ? vload(p) : vload_part(p, n, 0); }
static inline void st(float *p, vf v, int n) {
  if (n == BD_VL) vstore(p, v);
  else vstore_part(p, v, n);
}

typedef struct {
  const float *dout, *x, *stats, *w, *scale;
  float *dx, *part; /* part: per chunk [3][dim] = dweight, dshift, dscale partials */
  int rows, dim, modStride, rpg, perGroup, wantShift, wantScale;
} lnb_ctx;

static void lnb_chunks(void *p, int c0, int c1, int tid) {
  (void)tid;
  const lnb_ctx *c = (const lnb_ctx *)p;
  const int d = c->dim;
  for (int ch = c0; ch < c1; ch++) {
    const int g = ch / c->perGroup;
    int r0 = g * c->rpg + (ch % c->perGroup) * LNB_CHUNK, r1 = r0 + LNB_CHUNK;
    if (r1 > (g + 1) * c->rpg) r1 = (g + 1) * c->rpg;
    if (r1 > c->rows) r1 = c->rows;
    float *pw = c->part + (int64_t)ch * 3 * d, *psh = pw + d, *psc = psh + d;
    for (int j = 0; j < 3 * d; j++) pw[j] = 0;
    const float *sc = c->scale ? c->scale + (int64_t)g * c->modStride : 0;
    for (int r = r0; r < r1; r++) {
      const float *dy = c->dout + (int64_t)r * d, *x = c->x + (int64_t)r * d;
      const float mean = c->stats[2 * (int64_t)r], rstd = c->stats[2 * (int64_t)r + 1];
      /* pass 1: parameter partials and the two row means of g = dy * w * (1 + scale) */
      vf ag = vset1(0), agx = vset1(0);
      for (int j = 0; j < d; j += BD_VL) {
        const int n = d - j < BD_VL ? d - j : BD_VL;
        vf vdy = ld(dy + j, n), xh = (ld(x + j, n) - mean) * rstd;
        vf w = ld(c->w + j, n), s1 = sc ? 1.0f + ld(sc + j, n) : vset1(1);
        vf dyxh = vdy * xh, g1 = vdy * w * s1;
        st(pw + j, ld(pw + j, n) + dyxh * s1, n);
        if (c->wantShift) st(psh + j, ld(psh + j, n) + vdy, n);
        if (c->wantScale) st(psc + j, ld(psc + j, n) + dyxh * w, n);
        ag += g1, agx += g1 * xh;
      }
      const float mg = vhsum(ag) / (float)d, mgx = vhsum(agx) / (float)d;
      /* pass 2: dx = rstd (g - mean(g) - xhat mean(g xhat)); element j is read before it is written (dx may alias dy) */
      float *dx = c->dx + (int64_t)r * d;
      for (int j = 0; j < d; j += BD_VL) {
        const int n = d - j < BD_VL ? d - j : BD_VL;
        vf vdy = ld(dy + j, n), xh = (ld(x + j, n) - mean) * rstd;
        vf s1 = sc ? 1.0f + ld(sc + j, n) : vset1(1);
        vf g1 = vdy * ld(c->w + j, n) * s1;
        st(dx + j, rstd * (g1 - mg - xh * mgx), n);
      }
    }
  }
}

typedef struct {
  const lnb_ctx *c;
  float *dw, *dshift, *dscale;
  int nChunks;
} lnb_sum_ctx;

/* fixed-order combine of the chunk partials, parallel over columns */
static void lnb_sum(void *p, int j0, int j1, int tid) {
  (void)tid;
  const lnb_sum_ctx *s = (const lnb_sum_ctx *)p;
  const lnb_ctx *c = s->c;
  const int d = c->dim, nG = s->nChunks / c->perGroup;
  for (int j = j0; j < j1; j++) {
    double w = 0;
    for (int g = 0; g < nG; g++) {
      double sh = 0, sc = 0;
      for (int k = 0; k < c->perGroup; k++) {
        const float *pt = c->part + (int64_t)(g * c->perGroup + k) * 3 * d;
        w += pt[j], sh += pt[d + j], sc += pt[2 * d + j];
      }
      if (s->dshift) s->dshift[(int64_t)g * c->modStride + j] += (float)sh;
      if (s->dscale) s->dscale[(int64_t)g * c->modStride + j] += (float)sc;
    }
    s->dw[j] += (float)w;
  }
}

void bd_layernorm_backward(const float *dout, const float *x, const float *stats, int rows, int dim, const float *w,
                           const float *shift, const float *scale, int modStride, int rowsPerGroup, float *dx,
                           float *dw, float *dshift, float *dscale) {
  (void)shift; /* out is affine in shift: it does not enter any gradient */
  if (rows <= 0 || dim <= 0) return;
  const int rpg = rowsPerGroup > 0 && rowsPerGroup < rows ? rowsPerGroup : rows;
  const int perGroup = (rpg + LNB_CHUNK - 1) / LNB_CHUNK, nG = (rows + rpg - 1) / rpg, nChunks = nG * perGroup;
  float *part = (float *)bd_alloc(sizeof(float) * 3 * (size_t)dim * (size_t)nChunks);
  if (!part) return; /* out of memory: leave the outputs untouched rather than crash */
  lnb_ctx c = {dout, x, stats, w, scale, dx, part, rows, dim, modStride, rpg, perGroup, dshift != 0, dscale != 0};
  bd_parallel_for(nChunks, 1, lnb_chunks, &c);
  lnb_sum_ctx s = {&c, dw, dshift, dscale, nChunks};
  bd_parallel_for(dim, 64, lnb_sum, &s);
  bd_free(part);
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* layerNorm(x, out, rows, dim, w, eps, shift, scale, modStride, rowsPerGroup, stats) */
BD_NAPI(layernorm) {
  call_t c;
  if (!begin(&c, env, info, "layerNorm", 11)) return NULL;
  int64_t lx, lo, lw, lsh, lsc, lst;
  float *x = F32(0, "x", &lx), *out = F32(1, "out", &lo);
  int64_t rows = arg_int(&c, 2, "rows", 0, I32MAX), dim = arg_int(&c, 3, "dim", 0, I32MAX);
  float *w = F32(4, "weight", &lw);
  float eps = (float)arg_num(&c, 5, "eps");
  float *shift = F32_OPT(6, "shift", &lsh), *scale = F32_OPT(7, "scale", &lsc);
  int64_t modStride = arg_int(&c, 8, "modStride", 0, I32MAX), rpg = arg_int(&c, 9, "rowsPerGroup", 1, I32MAX);
  float *stats = F32_OPT(10, "stats", &lst);
  need(&c, "x", lx, rows * dim);
  need(&c, "out", lo, rows * dim);
  need(&c, "weight", lw, dim);
  int64_t groups = rows > 0 ? (rows - 1) / (rpg ? rpg : 1) : 0;
  if (shift) need(&c, "shift", lsh, groups * modStride + dim);
  if (scale) need(&c, "scale", lsc, groups * modStride + dim);
  if (stats) need(&c, "stats", lst, 2 * rows);
  if (c.failed) return NULL;
  bd_layernorm(x, out, (int)rows, (int)dim, w, eps, shift, scale, (int)modStride, (int)rpg, stats);
  return undefined(env);
}

/* layerNormBackward(dout, x, stats, rows, dim, w, shift, scale, modStride, rowsPerGroup, dx, dw, dshift, dscale) */
BD_NAPI(layernorm_backward) {
  call_t c;
  if (!begin(&c, env, info, "layerNormBackward", 14)) return NULL;
  int64_t ldo, lx, lst, lw, lsh, lsc, ldx, ldw, ldsh, ldsc;
  float *dout = F32(0, "dout", &ldo), *x = F32(1, "x", &lx), *stats = F32(2, "stats", &lst);
  int64_t rows = arg_int(&c, 3, "rows", 0, I32MAX), dim = arg_int(&c, 4, "dim", 0, I32MAX);
  float *w = F32(5, "weight", &lw), *shift = F32_OPT(6, "shift", &lsh), *scale = F32_OPT(7, "scale", &lsc);
  int64_t modStride = arg_int(&c, 8, "modStride", 0, I32MAX), rpg = arg_int(&c, 9, "rowsPerGroup", 1, I32MAX);
  float *dx = F32(10, "dx", &ldx), *dw = F32(11, "dweight", &ldw);
  float *dshift = F32_OPT(12, "dshift", &ldsh), *dscale = F32_OPT(13, "dscale", &ldsc);
  need(&c, "dout", ldo, rows * dim);
  need(&c, "x", lx, rows * dim);
  need(&c, "stats", lst, 2 * rows);
  need(&c, "weight", lw, dim);
  need(&c, "dx", ldx, rows * dim);
  need(&c, "dweight", ldw, dim);
  const int64_t modExtent = rows > 0 ? (rows - 1) / rpg * modStride + dim : 0;
  if (shift) need(&c, "shift", lsh, modExtent);
  if (scale) need(&c, "scale", lsc, modExtent);
  if (dshift) need(&c, "dshift", ldsh, modExtent);
  if (dscale) need(&c, "dscale", ldsc, modExtent);
  if (c.failed) return NULL;
  bd_layernorm_backward(dout, x, stats, (int)rows, (int)dim, w, shift, scale, (int)modStride, (int)rpg, dx, dw, dshift,
                        dscale);
  return undefined(env);
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(layernorm) void w_layernorm(const float *x, float *out, int rows, int dim, const float *w, float eps,
                                     const float *shift, const float *scale, int modStride, int rowsPerGroup,
                                     float *stats) {
  bd_layernorm(x, out, rows, dim, w, eps, shift, scale, modStride, rowsPerGroup, stats);
}

BD_WASM(layernorm_backward) void w_layernorm_backward(const float *dout, const float *x, const float *stats, int rows,
                                                       int dim, const float *w, const float *shift,
                                                       const float *scale, int modStride, int rowsPerGroup,
                                                       float *dx, float *dw, float *dshift, float *dscale) {
  bd_layernorm_backward(dout, x, stats, rows, dim, w, shift, scale, modStride, rowsPerGroup, dx, dw, dshift, dscale);
}
#endif
