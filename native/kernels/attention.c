/* Block-sparse multi-head attention (see kernels.h), flash-attention style: for a tile of up to BQ query rows that
 * share one spans record, walk that record's key intervals in tiles of BK keys with an online softmax, touching
 * only allowed keys. Scores are register-blocked dot products (2 queries x 4 keys, vectorised over headDim, then
 * a transposing horizontal sum); P.V is blocked as 2 queries x 4 vectors of headDim. Work items are
 * (batch, head, group of ~SEG_ROWS query rows), run on the pool; each thread has its own scratch. */
#include "../kernels.h"
#include "../parallel.h"
#include "attn_tile.h"
#include "mathf.h"

#define BQ 4
#define BK 64
#define SEG_ROWS 32
#define GROUP_MAX (2 * SEG_ROWS) /* a group closes once it has >= SEG_ROWS rows */


typedef struct {
  const bd_attention_args *a;
  const int32_t *seg; /* segments (record, qa, qb) */
  const int32_t *grp; /* group g = segments [grp[g], grp[g+1]) */
  int nGroups;
  float *scratch;
  int64_t perThread;
} att_ctx;


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
        tile_dots(q, nq, kb, a->kRowStride, cs[t], nk, d, S, BK);
        for (int u = 0; u < nq; u++) softmax_update(S + u * BK, nk, a->scale, &M[r + u], &Ls[r + u], O + (r + u) * d, d);
        int u = 0;
        for (; u + 2 <= nq; u += 2)
          tile_acc_rows(O + (r + u) * d, O + (r + u + 1) * d, 1, S + u * BK, S + (u + 1) * BK, vb, a->vRowStride, cs[t], nk, d);
        if (u < nq) tile_acc_rows(O + (r + u) * d, O + (r + u) * d, 0, S + u * BK, S + u * BK, vb, a->vRowStride, cs[t], nk, d);
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
