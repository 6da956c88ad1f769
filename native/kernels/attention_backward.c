/* Backward of bd_attention (see kernels.h), flash-attention-2 style over the spans: only allowed keys are visited,
 * P is recomputed from the forward lse (P = exp(scale q.k - lse)), D_i = dout_i . out_i, and
 *   dV += P^T dO,  dP = dO V^T,  dS = scale P (dP - D),  dQ += dS K,  dK += dS^T Q.
 * A work item is one (batch, head): it alone writes that head's slices of dq, dk and dv, so items never race even
 * when dq/dk/dv are parts of one packed dqkv buffer, and every sum runs in a fixed order (bit-reproducible).
 * Inside an item the outer loop walks key tiles of bk keys whose dK/dV accumulators stay in L1 (written out once);
 * for each tile, the query rows that may see it come in runs of up to ABQ rows sharing the same clipped key
 * interval (consecutive rows of one record, or of records that clip alike, e.g. causal rows past the tile), and
 * dq rows accumulate in place in the output. */
#include "../kernels.h"
#include "../parallel.h"
#include "attn_tile.h"
#include "mathf.h"

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
