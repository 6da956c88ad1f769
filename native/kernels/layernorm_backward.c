/* Backward of bd_layernorm (see kernels.h). Rows run in parallel in fixed chunks of LNB_CHUNK rows that never
 * straddle a modulation group; each chunk writes its own partial dweight/dshift/dscale, and the partials are summed
 * in chunk order afterwards, so the result does not depend on the thread count or scheduling (bit-reproducible). */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

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
