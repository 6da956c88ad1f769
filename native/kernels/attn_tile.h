/* Register-blocked tile products shared by the attention forward and backward: dot products of query-like rows
 * with key-like rows (2 rows x 4 keys, vectorised over the head dimension, then a transposing horizontal sum) and
 * weighted sums of rows (2 outputs x 4 vectors of the head dimension). */
#ifndef BD_ATTN_TILE_H
#define BD_ATTN_TILE_H
#include "vec.h"

#define INLINE static inline __attribute__((always_inline))

/* s0[0..3] (and s1[0..3] when two) = a0 (a1) . b[0..3] over d */
INLINE void dot_block(const float *a0, const float *a1, int two, const float *const b[4], int d, float *s0,
                      float *s1) {
  vf x0 = vset1(0), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
  int p = 0;
  for (; p + BD_VL <= d; p += BD_VL) {
    vf b0 = vload(b[0] + p), b1 = vload(b[1] + p), b2 = vload(b[2] + p), b3 = vload(b[3] + p);
    vf u = vload(a0 + p);
    x0 += u * b0, x1 += u * b1, x2 += u * b2, x3 += u * b3;
    if (two) {
      vf w = vload(a1 + p);
      y0 += w * b0, y1 += w * b1, y2 += w * b2, y3 += w * b3;
    }
  }
  vhsum4(x0, x1, x2, x3, s0);
  if (two) vhsum4(y0, y1, y2, y3, s1);
  for (; p < d; p++)
    for (int j = 0; j < 4; j++) {
      s0[j] += a0[p] * b[j][p];
      if (two) s1[j] += a1[p] * b[j][p];
    }
}

/* S[r][jj] (rows ldS apart) = a_r . b_{j0+jj} for r < nq, jj < nk rounded up to 4 (the padding repeats the last
 * row of b) */
static void tile_dots(const float *const *a, int nq, const float *bb, int64_t bRS, int j0, int nk, int d, float *S, int ldS) {
  for (int jj = 0; jj < nk; jj += 4) {
    const float *b[4];
    for (int t = 0; t < 4; t++) b[t] = bb + (int64_t)(j0 + (jj + t < nk ? jj + t : nk - 1)) * bRS;
    int r = 0;
    for (; r + 2 <= nq; r += 2) dot_block(a[r], a[r + 1], 1, b, d, S + r * ldS + jj, S + (r + 1) * ldS + jj);
    if (r < nq) dot_block(a[r], a[r], 0, b, d, S + r * ldS + jj, 0);
  }
}

/* o0 (o1) += sum_jj w0[jj] (w1[jj]) x_{j0+jj} (P.V in the forward, dS.K in the backward) */
INLINE void tile_acc_rows(float *o0, float *o1, int two, const float *w0, const float *w1, const float *xb, int64_t xRS,
                     int j0, int nk, int d) {
  int c = 0;
  for (; c + 4 * BD_VL <= d; c += 4 * BD_VL) {
    vf a0 = vload(o0 + c), a1 = vload(o0 + c + BD_VL), a2 = vload(o0 + c + 2 * BD_VL), a3 = vload(o0 + c + 3 * BD_VL);
    vf b0 = a0, b1 = a1, b2 = a2, b3 = a3;
    if (two) b0 = vload(o1 + c), b1 = vload(o1 + c + BD_VL), b2 = vload(o1 + c + 2 * BD_VL), b3 = vload(o1 + c + 3 * BD_VL);
    for (int jj = 0; jj < nk; jj++) {
      const float *x = xb + (int64_t)(j0 + jj) * xRS + c;
      vf x0 = vload(x), x1 = vload(x + BD_VL), x2 = vload(x + 2 * BD_VL), x3 = vload(x + 3 * BD_VL);
      const float u = w0[jj];
      a0 += u * x0, a1 += u * x1, a2 += u * x2, a3 += u * x3;
      if (two) {
        const float w = w1[jj];
        b0 += w * x0, b1 += w * x1, b2 += w * x2, b3 += w * x3;
      }
    }
    vstore(o0 + c, a0), vstore(o0 + c + BD_VL, a1), vstore(o0 + c + 2 * BD_VL, a2), vstore(o0 + c + 3 * BD_VL, a3);
    if (two) vstore(o1 + c, b0), vstore(o1 + c + BD_VL, b1), vstore(o1 + c + 2 * BD_VL, b2), vstore(o1 + c + 3 * BD_VL, b3);
  }
  for (; c + BD_VL <= d; c += BD_VL) {
    vf a = vload(o0 + c), b = two ? vload(o1 + c) : a;
    for (int jj = 0; jj < nk; jj++) {
      vf x = vload(xb + (int64_t)(j0 + jj) * xRS + c);
      a += w0[jj] * x;
      if (two) b += w1[jj] * x;
    }
    vstore(o0 + c, a);
    if (two) vstore(o1 + c, b);
  }
  for (; c < d; c++)
    for (int jj = 0; jj < nk; jj++) {
      const float x = xb[(int64_t)(j0 + jj) * xRS + c];
      o0[c] += w0[jj] * x;
      if (two) o1[c] += w1[jj] * x;
    }
}

#endif
