/* Block-sparse multi-head attention (see kernels.h), flash-attention style: for a tile of up to BQ query rows that
 * share one spans record, walk that record's key intervals in tiles of BK keys with an online softmax, touching
 * only allowed keys. Scores are register-blocked dot products (2 queries x 4 keys, vectorised over headDim, then
 * a transposing horizontal sum); P.V is blocked as 2 queries x 4 vectors of headDim. Work items are
 * (batch, head, group of ~SEG_ROWS query rows), run on the pool; each thread has its own scratch. */
#include "../kernels.h"
#include "../parallel.h"
#include "mathf.h"

#define BQ 4
#define BK 64
#define SEG_ROWS 32
#define GROUP_MAX (2 * SEG_ROWS) /* a group closes once it has >= SEG_ROWS rows */

#define INLINE static inline __attribute__((always_inline))

typedef struct {
  const bd_attention_args *a;
  const int32_t *seg; /* segments (record, qa, qb) */
  const int32_t *grp; /* group g = segments [grp[g], grp[g+1]) */
  int nGroups;
  float *scratch;
  int64_t perThread;
} att_ctx;

/* s0[0..3] (and s1[0..3] when two) = q0 (q1) . k[0..3] over d */
INLINE void qk_block(const float *q0, const float *q1, int two, const float *const k[4], int d, float *s0,
                     float *s1) {
  vf a0 = vset1(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int p = 0;
  for (; p + BD_VL <= d; p += BD_VL) {
    vf k0 = vload(k[0] + p), k1 = vload(k[1] + p), k2 = vload(k[2] + p), k3 = vload(k[3] + p);
    vf x = vload(q0 + p);
    a0 += x * k0, a1 += x * k1, a2 += x * k2, a3 += x * k3;
    if (two) {
      vf y = vload(q1 + p);
      b0 += y * k0, b1 += y * k1, b2 += y * k2, b3 += y * k3;
    }
  }
  vhsum4(a0, a1, a2, a3, s0);
  if (two) vhsum4(b0, b1, b2, b3, s1);
  for (; p < d; p++)
    for (int j = 0; j < 4; j++) {
      s0[j] += q0[p] * k[j][p];
      if (two) s1[j] += q1[p] * k[j][p];
    }
}

/* S[r][jj] = q_r . k_{j0+jj} for r < nq, jj < nk rounded up to 4 (the padding repeats the last key) */
static void scores(const float *const *q, int nq, const float *kb, int64_t kRS, int j0, int nk, int d, float *S) {
  for (int jj = 0; jj < nk; jj += 4) {
    const float *k[4];
    for (int t = 0; t < 4; t++) k[t] = kb + (int64_t)(j0 + (jj + t < nk ? jj + t : nk - 1)) * kRS;
    int r = 0;
    for (; r + 2 <= nq; r += 2) qk_block(q[r], q[r + 1], 1, k, d, S + r * BK + jj, S + (r + 1) * BK + jj);
    if (r < nq) qk_block(q[r], q[r], 0, k, d, S + r * BK + jj, 0);
  }
}

/* O[r] (+)= sum_jj P[r][jj] v_{j0+jj} for rows r, r+1 (two) or r alone; O rows are d floats */
INLINE void pv_rows(float *o0, float *o1, int two, const float *p0, const float *p1, const float *vb, int64_t vRS,
                    int j0, int nk, int d) {
  int c = 0;
  for (; c + 4 * BD_VL <= d; c += 4 * BD_VL) {
    vf x0 = vload(o0 + c), x1 = vload(o0 + c + BD_VL), x2 = vload(o0 + c + 2 * BD_VL), x3 = vload(o0 + c + 3 * BD_VL);
    vf y0 = x0, y1 = x1, y2 = x2, y3 = x3;
    if (two) y0 = vload(o1 + c), y1 = vload(o1 + c + BD_VL), y2 = vload(o1 + c + 2 * BD_VL), y3 = vload(o1 + c + 3 * BD_VL);
    for (int jj = 0; jj < nk; jj++) {
      const float *v = vb + (int64_t)(j0 + jj) * vRS + c;
      vf v0 = vload(v), v1 = vload(v + BD_VL), v2 = vload(v + 2 * BD_VL), v3 = vload(v + 3 * BD_VL);
      float a = p0[jj];
      x0 += a * v0, x1 += a * v1, x2 += a * v2, x3 += a * v3;
      if (two) {
        float b = p1[jj];
        y0 += b * v0, y1 += b * v1, y2 += b * v2, y3 += b * v3;
      }
    }
    vstore(o0 + c, x0), vstore(o0 + c + BD_VL, x1), vstore(o0 + c + 2 * BD_VL, x2), vstore(o0 + c + 3 * BD_VL, x3);
    if (two) vstore(o1 + c, y0), vstore(o1 + c + BD_VL, y1), vstore(o1 + c + 2 * BD_VL, y2), vstore(o1 + c + 3 * BD_VL, y3);
  }
  for (; c + BD_VL <= d; c += BD_VL) {
    vf x = vload(o0 + c), y = two ? vload(o1 + c) : x;
    for (int jj = 0; jj < nk; jj++) {
      vf v = vload(vb + (int64_t)(j0 + jj) * vRS + c);
      x += p0[jj] * v;
      if (two) y += p1[jj] * v;
    }
    vstore(o0 + c, x);
    if (two) vstore(o1 + c, y);
  }
  for (; c < d; c++)
    for (int jj = 0; jj < nk; jj++) {
      float v = vb[(int64_t)(j0 + jj) * vRS + c];
      o0[c] += p0[jj] * v;
      if (two) o1[c] += p1[jj] * v;
    }
}

/* Online-softmax update of row state (m, l, O) with the raw scores s[0..nk): s becomes P in place. */
static void softmax_update(float *s, int nk, float scale, float *m, float *l, float *o, int d) {
  vf mx = vset1(-BD_INF);
  int jj = 0;
  for (; jj + BD_VL <= nk; jj += BD_VL) {
    vf x = vload(s + jj) * scale;
    vstore(s + jj, x);
    mx = vmax(mx, x);
  }
  float mNew = vhmax(mx);
  for (; jj < nk; jj++) {
    s[jj] *= scale;
    mNew = s[jj] > mNew ? s[jj] : mNew;
  }
  if (mNew < *m) mNew = *m;
  vf sum = vset1(0);
  for (jj = 0; jj + BD_VL <= nk; jj += BD_VL) {
    vf e = bd_vexp(vload(s + jj) - mNew);
    vstore(s + jj, e);
    sum += e;
  }
  if (jj < nk) {
    vf e = bd_vexp(vload_part(s + jj, nk - jj, -BD_INF) - mNew);
    vstore_part(s + jj, e, nk - jj);
    sum += e;
  }
  if (*m != -BD_INF && *m != mNew) {
    float alpha = bd_expf(*m - mNew);
    *l *= alpha;
    for (int c = 0; c < d; c++) o[c] *= alpha;
  }
  *l += vhsum(sum);
  *m = mNew;
}

/* One work item: the query rows of a group (up to GROUP_MAX rows from consecutive records) of batch b, head h.
 * The outer loop walks key tiles of bk keys over the group's key range, so each K/V tile is loaded once and
 * reused from L1 by every record that may see it; each row uses only its record's intervals clipped to the
 * tile (exact, no masking). Consecutive rows with identical clipped intervals run together, BQ at a time. */
static void group_run(const bd_attention_args *a, int b, int h, const int32_t *row, const int32_t *const *rec,
                      int n, float *O, float *M, float *Ls, float *S) {
  const int d = a->headDim, bk = d <= 32 ? BK : BK / 2;
  const float *kb = a->k + b * a->kBatchStride + (int64_t)h * d;
  const float *vb = a->v + b * a->vBatchStride + (int64_t)h * d;
  int lo = a->kLen, hi = 0;
  for (int r = 0; r < n; r++) {
    M[r] = -BD_INF, Ls[r] = 0;
    for (int t = 0; t < 2; t++)
      if (rec[r][2 + 2 * t] < rec[r][3 + 2 * t]) {
        if (rec[r][2 + 2 * t] < lo) lo = rec[r][2 + 2 * t];
        if (rec[r][3 + 2 * t] > hi) hi = rec[r][3 + 2 * t];
      }
  }
  for (int c = 0; c < n * d; c++) O[c] = 0;
  for (int j0 = lo; j0 < hi; j0 += bk) {
    const int j1 = j0 + bk < hi ? j0 + bk : hi;
    for (int r = 0; r < n;) {
      int cs[2], ce[2];
      for (int t = 0; t < 2; t++) {
        const int ks = rec[r][2 + 2 * t], ke = rec[r][3 + 2 * t];
        cs[t] = ks > j0 ? ks : j0, ce[t] = ke < j1 ? ke : j1;
      }
      if (cs[0] >= ce[0] && cs[1] >= ce[1]) {
        r++;
        continue;
      }
      int e = r + 1; /* extend the run while the next row clips to the same intervals */
      while (e < n && e - r < BQ) {
        const int32_t *x = rec[e];
        if (x != rec[r]) {
          int same = 1;
          for (int t = 0; t < 2 && same; t++) {
            int s2 = x[2 + 2 * t] > j0 ? x[2 + 2 * t] : j0, e2 = x[3 + 2 * t] < j1 ? x[3 + 2 * t] : j1;
            same = (s2 < e2) == (cs[t] < ce[t]) && (s2 >= e2 || (s2 == cs[t] && e2 == ce[t]));
          }
          if (!same) break;
        }
        e++;
      }
      const float *q[BQ];
      const int nq = e - r;
      for (int t = 0; t < nq; t++)
        q[t] = a->q + b * a->qBatchStride + (int64_t)row[r + t] * a->qRowStride + (int64_t)h * d;
      for (int t = 0; t < 2; t++) {
        if (cs[t] >= ce[t]) continue;
        const int nk = ce[t] - cs[t];
        scores(q, nq, kb, a->kRowStride, cs[t], nk, d, S);
        for (int u = 0; u < nq; u++) softmax_update(S + u * BK, nk, a->scale, &M[r + u], &Ls[r + u], O + (r + u) * d, d);
        int u = 0;
        for (; u + 2 <= nq; u += 2)
          pv_rows(O + (r + u) * d, O + (r + u + 1) * d, 1, S + u * BK, S + (u + 1) * BK, vb, a->vRowStride, cs[t], nk, d);
        if (u < nq) pv_rows(O + (r + u) * d, O + (r + u) * d, 0, S + u * BK, S + u * BK, vb, a->vRowStride, cs[t], nk, d);
      }
      r = e;
    }
  }
  for (int r = 0; r < n; r++) {
    float *out = a->out + b * a->outBatchStride + (int64_t)row[r] * a->outRowStride + (int64_t)h * d;
    const float inv = 1.0f / Ls[r];
    for (int c = 0; c < d; c++) out[c] = O[r * d + c] * inv;
    if (a->lse) a->lse[((int64_t)b * a->heads + h) * a->qLen + row[r]] = M[r] + bd_logf(Ls[r]);
  }
}

static void att_items(void *p, int w0, int w1, int tid) {
  const att_ctx *c = (const att_ctx *)p;
  const bd_attention_args *a = c->a;
  float *O = c->scratch + tid * c->perThread, *M = O + GROUP_MAX * a->headDim, *Ls = M + GROUP_MAX,
        *S = Ls + GROUP_MAX;
  int32_t row[GROUP_MAX];
  const int32_t *rec[GROUP_MAX];
  for (int w = w0; w < w1; w++) {
    const int g = w % c->nGroups, bh = w / c->nGroups, b = bh / a->heads, h = bh % a->heads;
    int n = 0;
    for (int s = c->grp[g]; s < c->grp[g + 1]; s++) {
      const int32_t *seg = c->seg + 3 * s;
      for (int i = seg[1]; i < seg[2]; i++) row[n] = i, rec[n++] = a->spans + 6 * seg[0];
    }
    group_run(a, b, h, row, rec, n, O, M, Ls, S);
  }
}

void bd_attention(const bd_attention_args *a) {
  if (a->batch <= 0 || a->heads <= 0 || a->headDim <= 0 || a->nSpans <= 0) return;
  /* segments: each record's rows in chunks of SEG_ROWS; groups: consecutive segments of >= SEG_ROWS rows */
  int nSeg = 0;
  for (int r = 0; r < a->nSpans; r++) {
    int rows = a->spans[6 * r + 1] - a->spans[6 * r];
    nSeg += rows > 0 ? (rows + SEG_ROWS - 1) / SEG_ROWS : 0;
  }
  if (nSeg == 0) return;
  const int T = bd_num_threads();
  const int64_t perThread = (int64_t)GROUP_MAX * (a->headDim + 2) + BQ * BK + 16;
  int32_t *seg = (int32_t *)bd_alloc(sizeof(int32_t) * (3 * (size_t)nSeg + nSeg + 1));
  float *scratch = (float *)bd_alloc(sizeof(float) * (size_t)(perThread * T));
  if (!seg || !scratch) { /* out of memory: leave out untouched rather than crash */
    bd_free(seg), bd_free(scratch);
    return;
  }
  int32_t *grp = seg + 3 * nSeg;
  int ns = 0, ng = 0, acc = 0;
  for (int r = 0; r < a->nSpans; r++) {
    const int q0 = a->spans[6 * r], q1 = a->spans[6 * r + 1];
    for (int i = q0; i < q1; i += SEG_ROWS) {
      if (acc == 0) grp[ng++] = ns;
      seg[3 * ns] = r, seg[3 * ns + 1] = i, seg[3 * ns + 2] = q1 - i < SEG_ROWS ? q1 : i + SEG_ROWS;
      acc += seg[3 * ns + 2] - i;
      ns++;
      if (acc >= SEG_ROWS) acc = 0;
    }
  }
  grp[ng] = ns;
  att_ctx c = {a, seg, grp, ng, scratch, perThread};
  bd_parallel_for(a->batch * a->heads * ng, 1, att_items, &c);
  bd_free(seg);
  bd_free(scratch);
}
