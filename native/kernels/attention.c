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

/* ---- backward ---- */

/* Backward of bd_attention (see kernels.h), flash-attention-2 style over the spans: only allowed keys are visited,
 * P is recomputed from the forward lse (P = exp(scale q.k - lse)), D_i = dout_i . out_i, and
 *   dV += P^T dO,  dP = dO V^T,  dS = scale P (dP - D),  dQ += dS K,  dK += dS^T Q.
 * A work item is one (batch, head): it alone writes that head's slices of dq, dk and dv, so items never race even
 * when dq/dk/dv are parts of one packed dqkv buffer, and every sum runs in a fixed order (bit-reproducible).
 * Inside an item the outer loop walks key tiles of bk keys whose dK/dV accumulators stay in L1 (written out once);
 * for each tile, the query rows that may see it come in runs of up to ABQ rows sharing the same clipped key
 * interval (consecutive rows of one record, or of records that clip alike, e.g. causal rows past the tile), and
 * dq rows accumulate in place in the output. */

#define ABQ 4
#define ABK 64

/* dst[jj] += sum_r W[r][jj] X_r for jj < nk (dst rows of d floats; W rows ABK apart): dV from P and dO, dK from dS
 * and Q. Blocked 4 keys x 2 vectors so each loaded X vector feeds 4 FMAs. */
static void outer_acc(float *dst, int nk, const float *W, const float *const *X, int nq, int d) {
  int jj = 0;
  for (; jj + 4 <= nk; jj += 4) {
    float *o0 = dst + (int64_t)jj * d, *o1 = o0 + d, *o2 = o1 + d, *o3 = o2 + d;
    int c = 0;
    for (; c + 2 * BD_VL <= d; c += 2 * BD_VL) {
      vf a0 = vload(o0 + c), a1 = vload(o1 + c), a2 = vload(o2 + c), a3 = vload(o3 + c);
      vf b0 = vload(o0 + c + BD_VL), b1 = vload(o1 + c + BD_VL), b2 = vload(o2 + c + BD_VL),
         b3 = vload(o3 + c + BD_VL);
      for (int r = 0; r < nq; r++) {
        const float *w = W + r * ABK + jj;
        const vf x = vload(X[r] + c), y = vload(X[r] + c + BD_VL);
        a0 += w[0] * x, a1 += w[1] * x, a2 += w[2] * x, a3 += w[3] * x;
        b0 += w[0] * y, b1 += w[1] * y, b2 += w[2] * y, b3 += w[3] * y;
      }
      vstore(o0 + c, a0), vstore(o1 + c, a1), vstore(o2 + c, a2), vstore(o3 + c, a3);
      vstore(o0 + c + BD_VL, b0), vstore(o1 + c + BD_VL, b1), vstore(o2 + c + BD_VL, b2), vstore(o3 + c + BD_VL, b3);
    }
    for (; c + BD_VL <= d; c += BD_VL) {
      vf a0 = vload(o0 + c), a1 = vload(o1 + c), a2 = vload(o2 + c), a3 = vload(o3 + c);
      for (int r = 0; r < nq; r++) {
        const float *w = W + r * ABK + jj;
        const vf x = vload(X[r] + c);
        a0 += w[0] * x, a1 += w[1] * x, a2 += w[2] * x, a3 += w[3] * x;
      }
      vstore(o0 + c, a0), vstore(o1 + c, a1), vstore(o2 + c, a2), vstore(o3 + c, a3);
    }
    for (; c < d; c++)
      for (int r = 0; r < nq; r++) {
        const float *w = W + r * ABK + jj;
        o0[c] += w[0] * X[r][c], o1[c] += w[1] * X[r][c], o2[c] += w[2] * X[r][c], o3[c] += w[3] * X[r][c];
      }
  }
  for (; jj < nk; jj++) {
    float *o = dst + (int64_t)jj * d;
    int c = 0;
    for (; c + BD_VL <= d; c += BD_VL) {
      vf a = vload(o + c);
      for (int r = 0; r < nq; r++) a += W[r * ABK + jj] * vload(X[r] + c);
      vstore(o + c, a);
    }
    for (; c < d; c++)
      for (int r = 0; r < nq; r++) o[c] += W[r * ABK + jj] * X[r][c];
  }
}

/* P = exp(scale S - lse) into S, dS = scale P (dP - D) into dP, for one row's nk entries */
static void softmax_grad(float *S, float *dP, int nk, float scale, float lse, float D) {
  for (int jj = 0; jj < nk; jj += BD_VL) {
    const int n = nk - jj < BD_VL ? nk - jj : BD_VL;
    vf s = n == BD_VL ? vload(S + jj) : vload_part(S + jj, n, 0);
    vf dp = n == BD_VL ? vload(dP + jj) : vload_part(dP + jj, n, 0);
    vf p = bd_vexp(s * scale - lse), ds = scale * p * (dp - D);
    if (n == BD_VL) vstore(S + jj, p), vstore(dP + jj, ds);
    else vstore_part(S + jj, p, n), vstore_part(dP + jj, ds, n);
  }
}

typedef struct {
  const bd_attention_backward_args *A;
  int b, h, j0;
  const float *qb, *kb, *vb, *dob, *lse, *D;
  float *dqb, *dK, *dV, *S, *dP;
} bh_state;

/* One run of nq query rows sharing the clipped key intervals [cs[t], ce[t]) of the current tile. */
static void run_rows(const bh_state *st, const int *rows, int nq, const int *cs, const int *ce) {
  const bd_attention_args *a = &st->A->fwd;
  const int d = a->headDim;
  const float *q[ABQ], *dO[ABQ];
  float *dq[ABQ];
  for (int r = 0; r < nq; r++) {
    q[r] = st->qb + (int64_t)rows[r] * a->qRowStride;
    dq[r] = st->dqb + (int64_t)rows[r] * a->qRowStride;
    dO[r] = st->dob + (int64_t)rows[r] * a->outRowStride;
  }
  for (int t = 0; t < 2; t++) {
    if (cs[t] >= ce[t]) continue;
    const int nk = ce[t] - cs[t];
    tile_dots(q, nq, st->kb, a->kRowStride, cs[t], nk, d, st->S, ABK);
    tile_dots(dO, nq, st->vb, a->vRowStride, cs[t], nk, d, st->dP, ABK);
    for (int r = 0; r < nq; r++)
      softmax_grad(st->S + r * ABK, st->dP + r * ABK, nk, a->scale, st->lse[rows[r]], st->D[rows[r]]);
    const int64_t off = (int64_t)(cs[t] - st->j0) * d;
    outer_acc(st->dV + off, nk, st->S, dO, nq, d);
    outer_acc(st->dK + off, nk, st->dP, q, nq, d);
    int r = 0;
    for (; r + 2 <= nq; r += 2)
      tile_acc_rows(dq[r], dq[r + 1], 1, st->dP + r * ABK, st->dP + (r + 1) * ABK, st->kb, a->kRowStride, cs[t], nk, d);
    if (r < nq) tile_acc_rows(dq[r], dq[r], 0, st->dP + r * ABK, st->dP + r * ABK, st->kb, a->kRowStride, cs[t], nk, d);
  }
}

static void bh_run(const bd_attention_backward_args *A, int b, int h, float *scratch) {
  const bd_attention_args *a = &A->fwd;
  const int d = a->headDim, bk = d <= 32 ? ABK : ABK / 2;
  bh_state st;
  st.A = A, st.b = b, st.h = h;
  st.qb = a->q + b * a->qBatchStride + (int64_t)h * d;
  st.kb = a->k + b * a->kBatchStride + (int64_t)h * d;
  st.vb = a->v + b * a->vBatchStride + (int64_t)h * d;
  st.dob = A->dout + b * a->outBatchStride + (int64_t)h * d;
  st.dqb = A->dq + b * a->qBatchStride + (int64_t)h * d;
  st.lse = a->lse + ((int64_t)b * a->heads + h) * a->qLen;
  st.dK = scratch, st.dV = st.dK + ABK * d, st.S = st.dV + ABK * d, st.dP = st.S + ABQ * ABK;
  float *D = st.dP + ABQ * ABK;
  st.D = D;
  const float *ob = a->out + b * a->outBatchStride + (int64_t)h * d;
  for (int i = 0; i < a->qLen; i++) {
    const float *o = ob + (int64_t)i * a->outRowStride, *g = st.dob + (int64_t)i * a->outRowStride;
    float s = 0;
    for (int c = 0; c < d; c++) s += o[c] * g[c];
    D[i] = s;
    float *dq = st.dqb + (int64_t)i * a->qRowStride;
    for (int c = 0; c < d; c++) dq[c] = 0;
  }
  float *dkb = A->dk + b * a->kBatchStride + (int64_t)h * d, *dvb = A->dv + b * a->vBatchStride + (int64_t)h * d;
  for (int j0 = 0; j0 < a->kLen; j0 += bk) {
    const int j1 = j0 + bk < a->kLen ? j0 + bk : a->kLen;
    st.j0 = j0;
    for (int c = 0; c < (j1 - j0) * d; c++) st.dK[c] = 0, st.dV[c] = 0;
    int rows[ABQ], n = 0, cs[2] = {0, 0}, ce[2] = {0, 0};
    for (int s = 0; s < a->nSpans; s++) {
      const int32_t *rec = a->spans + 6 * s;
      if (rec[0] >= rec[1]) continue;
      int ns[2], ne[2];
      for (int t = 0; t < 2; t++) {
        ns[t] = rec[2 + 2 * t] > j0 ? rec[2 + 2 * t] : j0, ne[t] = rec[3 + 2 * t] < j1 ? rec[3 + 2 * t] : j1;
        if (ns[t] >= ne[t]) ns[t] = ne[t] = 0; /* canonical empty, so equal runs compare equal */
      }
      if (ns[0] >= ne[0] && ns[1] >= ne[1]) continue;
      if (n && (ns[0] != cs[0] || ne[0] != ce[0] || ns[1] != cs[1] || ne[1] != ce[1])) run_rows(&st, rows, n, cs, ce), n = 0;
      cs[0] = ns[0], cs[1] = ns[1], ce[0] = ne[0], ce[1] = ne[1];
      for (int i = rec[0]; i < rec[1]; i++) {
        rows[n++] = i;
        if (n == ABQ) run_rows(&st, rows, n, cs, ce), n = 0;
      }
    }
    if (n) run_rows(&st, rows, n, cs, ce);
    for (int j = j0; j < j1; j++) {
      float *dk = dkb + (int64_t)j * a->kRowStride, *dv = dvb + (int64_t)j * a->vRowStride;
      for (int c = 0; c < d; c++) dk[c] = st.dK[(j - j0) * d + c], dv[c] = st.dV[(j - j0) * d + c];
    }
  }
}

typedef struct {
  const bd_attention_backward_args *A;
  float *scratch;
  int64_t perThread;
} atb_ctx;

static void atb_items(void *p, int w0, int w1, int tid) {
  const atb_ctx *c = (const atb_ctx *)p;
  for (int w = w0; w < w1; w++)
    bh_run(c->A, w / c->A->fwd.heads, w % c->A->fwd.heads, c->scratch + tid * c->perThread);
}

void bd_attention_backward(const bd_attention_backward_args *A) {
  const bd_attention_args *a = &A->fwd;
  if (a->batch <= 0 || a->heads <= 0 || a->headDim <= 0) return;
  const int T = bd_num_threads();
  /* dK, dV tiles, S and dP blocks, D per query row; rounded to a cache line */
  const int64_t perThread = ((int64_t)2 * ABK * a->headDim + 2 * ABQ * ABK + a->qLen + 15) & ~(int64_t)15;
  float *scratch = (float *)bd_alloc(sizeof(float) * (size_t)(perThread * T));
  if (!scratch) return; /* out of memory: outputs untouched rather than a crash */
  atb_ctx c = {A, scratch, perThread};
  bd_parallel_for(a->batch * a->heads, 1, atb_items, &c);
  bd_free(scratch);
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* Checks the spans records: bounds, a key for every row, every query row covered exactly once. */
static void check_spans(call_t *c, const int32_t *sp, int64_t nSpans, int64_t qLen, int64_t kLen) {
  if (c->failed) return;
  unsigned char *seen = (unsigned char *)calloc((size_t)qLen + 1, 1);
  if (!seen) {
    fail(c, "%s: out of memory", "spans", 0, 0);
    return;
  }
  for (int64_t r = 0; r < nSpans && !c->failed; r++) {
    const int32_t *s = sp + 6 * r;
    if (s[0] < 0 || s[0] > s[1] || s[1] > qLen) fail(c, "%s record %lld: query rows outside [0, qLen) (qLen %lld)", "spans", r, qLen);
    else if (s[2] < 0 || s[2] > s[3] || s[3] > kLen || s[4] < 0 || s[4] > s[5] || s[5] > kLen)
      fail(c, "%s record %lld: key interval outside [0, kLen) (kLen %lld)", "spans", r, kLen);
    else if (s[1] > s[0] && s[3] - s[2] + s[5] - s[4] <= 0) fail(c, "%s record %lld has no keys", "spans", r, 0);
    else
      for (int32_t i = s[0]; i < s[1]; i++)
        if (seen[i]++) {
          fail(c, "%s: query row %lld is in more than one record (record %lld)", "spans", i, r);
          break;
        }
  }
  for (int64_t i = 0; i < qLen && !c->failed; i++)
    if (!seen[i]) fail(c, "%s: query row %lld is in no record", "spans", i, 0);
  free(seen);
}

/* Reads and checks the 20 leading arguments shared by attention and attentionBackward (batch, heads, headDim, qLen,
 * kLen, q, k, v, out, qRS, kRS, vRS, oRS, qBS, kBS, vBS, oBS, scale, spans, lse) into *a. */
static void attention_args(call_t *c, bd_attention_args *a, int lseRequired) {
  int64_t batch = arg_int(c, 0, "batch", 0, I32MAX), heads = arg_int(c, 1, "heads", 0, I32MAX);
  int64_t hd = arg_int(c, 2, "headDim", 0, I32MAX), qLen = arg_int(c, 3, "qLen", 0, I32MAX),
          kLen = arg_int(c, 4, "kLen", 0, I32MAX);
  int64_t lq, lk, lv, lo, lsp, llse;
  a->q = (float *)arg_array(c, 5, "q", napi_float32_array, 0, &lq), a->k = (float *)arg_array(c, 6, "k", napi_float32_array, 0, &lk), a->v = (float *)arg_array(c, 7, "v", napi_float32_array, 0, &lv), a->out = (float *)arg_array(c, 8, "out", napi_float32_array, 0, &lo);
  int64_t rs[4], bs[4];
  static const char *rsn[4] = {"qRowStride", "kRowStride", "vRowStride", "outRowStride"};
  static const char *bsn[4] = {"qBatchStride", "kBatchStride", "vBatchStride", "outBatchStride"};
  for (int t = 0; t < 4; t++) rs[t] = arg_int(c, 9 + t, rsn[t], 0, I32MAX);
  for (int t = 0; t < 4; t++) bs[t] = arg_int(c, 13 + t, bsn[t], 0, I53MAX);
  a->scale = (float)arg_num(c, 17, "scale");
  const int32_t *spans = (const int32_t *)arg_array(c, 18, "spans", napi_int32_array, 0, &lsp);
  a->lse = (float *)arg_array(c, 19, "lse", napi_float32_array, !lseRequired, &llse);
  if (!c->failed && lsp % 6) fail(c, "'%s' length %lld is not a multiple of 6", "spans", lsp, 0);
  for (int t = 0; t < 4 && !c->failed; t++)
    if (rs[t] < heads * hd) fail(c, "%s %lld is below heads*headDim %lld", rsn[t], rs[t], heads * hd);
  const int64_t len[4] = {lq, lk, lv, lo}, rowsOf[4] = {qLen, kLen, kLen, qLen};
  static const char *names[4] = {"q", "k", "v", "out"};
  for (int t = 0; t < 4; t++) need(c, names[t], len[t], extent2d(batch, bs[t], rowsOf[t], heads * hd, rs[t]));
  if (a->lse) need(c, "lse", llse, batch * heads * qLen);
  check_spans(c, spans, lsp / 6, qLen, kLen);
  if (c->failed) return;
  a->batch = (int)batch, a->heads = (int)heads, a->headDim = (int)hd, a->qLen = (int)qLen, a->kLen = (int)kLen;
  a->qRowStride = (int)rs[0], a->kRowStride = (int)rs[1], a->vRowStride = (int)rs[2], a->outRowStride = (int)rs[3];
  a->qBatchStride = bs[0], a->kBatchStride = bs[1], a->vBatchStride = bs[2], a->outBatchStride = bs[3];
  a->spans = spans, a->nSpans = (int)(lsp / 6);
}

/* attention(batch, heads, headDim, qLen, kLen, q, k, v, out, qRS, kRS, vRS, oRS, qBS, kBS, vBS, oBS, scale, spans,
 * lse) */
BD_NAPI(attention) {
  call_t c;
  if (!begin(&c, env, info, "attention", 20)) return NULL;
  bd_attention_args a;
  attention_args(&c, &a, 0);
  if (c.failed) return NULL;
  bd_attention(&a);
  return undefined(env);
}

/* attentionBackward(<the 20 arguments of attention, lse required>, dout, dq, dk, dv); dout uses out's strides and
 * dq/dk/dv those of q/k/v */
BD_NAPI(attention_backward) {
  call_t c;
  if (!begin(&c, env, info, "attentionBackward", 24)) return NULL;
  bd_attention_backward_args a;
  attention_args(&c, &a.fwd, 1);
  int64_t len[4];
  float *arr[4];
  static const char *names[4] = {"dout", "dq", "dk", "dv"};
  for (int t = 0; t < 4; t++) arr[t] = F32(20 + t, names[t], &len[t]);
  if (c.failed) return NULL;
  const bd_attention_args *f = &a.fwd;
  const int64_t w = (int64_t)f->heads * f->headDim;
  need(&c, "dout", len[0], extent2d(f->batch, f->outBatchStride, f->qLen, w, f->outRowStride));
  need(&c, "dq", len[1], extent2d(f->batch, f->qBatchStride, f->qLen, w, f->qRowStride));
  need(&c, "dk", len[2], extent2d(f->batch, f->kBatchStride, f->kLen, w, f->kRowStride));
  need(&c, "dv", len[3], extent2d(f->batch, f->vBatchStride, f->kLen, w, f->vRowStride));
  if (c.failed) return NULL;
  a.dout = arr[0], a.dq = arr[1], a.dk = arr[2], a.dv = arr[3];
  bd_attention_backward(&a);
  return undefined(env);
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(attention) void w_attention(int batch, int heads, int headDim, int qLen, int kLen, const float *q,
                                     const float *k, const float *v, float *out, int qRS, int kRS, int vRS, int oRS,
                                     int qBS, int kBS, int vBS, int oBS, float scale, const int32_t *spans,
                                     int nSpans, float *lse) {
  bd_attention_args a = {batch, heads, headDim, qLen, kLen, q, k, v, out, qRS, kRS, vRS, oRS,
                         qBS, kBS, vBS, oBS, scale, spans, nSpans, lse};
  bd_attention(&a);
}

BD_WASM(attention_backward) void w_attention_backward(int batch, int heads, int headDim, int qLen, int kLen,
                                                       const float *q, const float *k, const float *v,
                                                       const float *out, int qRS, int kRS, int vRS, int oRS, int qBS,
                                                       int kBS, int vBS, int oBS, float scale,
                                                       const int32_t *spans, int nSpans, float *lse,
                                                       const float *dout, float *dq, float *dk, float *dv) {
  bd_attention_backward_args a = {{batch, heads, headDim, qLen, kLen, q, k, v, (float *)out, qRS, kRS, vRS, oRS,
                                   qBS, kBS, vBS, oBS, scale, spans, nSpans, lse},
                                  dout, dq, dk, dv};
  bd_attention_backward(&a);
}
#endif
