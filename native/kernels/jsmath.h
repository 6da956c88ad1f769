/* JavaScript's Math.exp, Math.log and Math.pow in C, bit for bit: V8 computes them with its port of fdlibm
 * (src/base/ieee754.cc: exp, log, and pow = legacy::pow), not with the platform's libm, whose results differ in
 * the last bit for a few percent of arguments. A kernel that must reproduce a TypeScript definition exactly
 * (sampling.c) uses these. Ported from fdlibm (Copyright (C) 1993 by Sun Microsystems, Inc.; freely
 * redistributable with this notice) as V8 has it; test/sampling-kernel.test.ts checks them against Math.* through
 * the kernel.
 *
 * Contraction of a*b+c into an FMA would change the roundings, so it is off for every function after this header
 * (the addon is built with -ffp-contract=fast; clang's default contracts within expressions). */
#ifndef BD_JSMATH_H
#define BD_JSMATH_H
#include <stdint.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static inline uint32_t js_hi(double d) {
  uint64_t b;
  __builtin_memcpy(&b, &d, 8);
  return (uint32_t)(b >> 32);
}
static inline uint32_t js_lo(double d) {
  uint64_t b;
  __builtin_memcpy(&b, &d, 8);
  return (uint32_t)b;
}
static inline double js_words(uint32_t hi, uint32_t lo) {
  uint64_t b = (uint64_t)hi << 32 | lo;
  double d;
  __builtin_memcpy(&d, &b, 8);
  return d;
}
static inline double js_set_hi(double d, uint32_t hi) { return js_words(hi, js_lo(d)); }
static inline double js_set_lo(double d, uint32_t lo) { return js_words(js_hi(d), lo); }

/* Math.exp (fdlibm e_exp.c as in V8, with its exp(1) == E special case) */
static inline double js_exp(double x) {
  static const double one = 1.0, halF[2] = {0.5, -0.5}, o_threshold = 7.09782712893383973096e+02,
                      u_threshold = -7.45133219101941108420e+02,
                      ln2HI[2] = {6.93147180369123816490e-01, -6.93147180369123816490e-01},
                      ln2LO[2] = {1.90821492927058770002e-10, -1.90821492927058770002e-10},
                      invln2 = 1.44269504088896338700e+00, P1 = 1.66666666666666019037e-01,
                      P2 = -2.77777777770155933842e-03, P3 = 6.61375632143793436117e-05,
                      P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08, E = 2.718281828459045;
  static const double huge = 1.0e+300, twom1000 = 9.33263618503218878990e-302, two1023 = 8.988465674311579539e307;
  double y, hi = 0.0, lo = 0.0, c, t, twopk;
  int32_t k = 0, xsb;
  uint32_t hx = js_hi(x);
  xsb = (int32_t)((hx >> 31) & 1);
  hx &= 0x7FFFFFFF;
  if (hx >= 0x40862E42) { /* |x| >= 709.78... */
    if (hx >= 0x7FF00000) {
      if (((hx & 0xFFFFF) | js_lo(x)) != 0) return x + x; /* NaN */
      return xsb == 0 ? x : 0.0;                          /* exp(+-inf) = {inf, 0} */
    }
    if (x > o_threshold) return huge * huge;
    if (x < u_threshold) return twom1000 * twom1000;
  }
  if (hx > 0x3FD62E42) {   /* |x| > 0.5 ln2 */
    if (hx < 0x3FF0A2B2) { /* and |x| < 1.5 ln2 */
      if (x == 1.0) return E;
      hi = x - ln2HI[xsb];
      lo = ln2LO[xsb];
      k = 1 - xsb - xsb;
    } else {
      k = (int32_t)(invln2 * x + halF[xsb]);
      t = k;
      hi = x - t * ln2HI[0];
      lo = t * ln2LO[0];
    }
    x = hi - lo;
  } else if (hx < 0x3E300000) { /* |x| < 2**-28 */
    if (huge + x > one) return one + x;
  } else {
    k = 0;
  }
  t = x * x;
  if (k >= -1021)
    twopk = js_words(0x3FF00000 + ((uint32_t)k << 20), 0);
  else
    twopk = js_words(0x3FF00000 + ((uint32_t)(k + 1000) << 20), 0);
  c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return one - ((x * c) / (c - 2.0) - x);
  y = one - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * two1023;
    return y * twopk;
  }
  return y * twopk * twom1000;
}

/* out[i] = js_exp(l[i]) for n floats. Four lanes at a time take js_exp's main path (|x| >= 1.5 ln2, no overflow,
 * no subnormal result: -708 < x < 709) with the same operations in the same order, so every lane rounds as the
 * scalar code; a group with any other lane (small |x|, NaN, +-inf, extremes) runs the scalar function. */
typedef double js_vd __attribute__((vector_size(32)));
typedef int64_t js_vl __attribute__((vector_size(32)));
static inline void js_exp_floats(const float *l, double *out, int n) {
  const double ln2HI = 6.93147180369123816490e-01, ln2LO = 1.90821492927058770002e-10,
               invln2 = 1.44269504088896338700e+00, P1 = 1.66666666666666019037e-01,
               P2 = -2.77777777770155933842e-03, P3 = 6.61375632143793436117e-05,
               P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    js_vd x = {l[i], l[i + 1], l[i + 2], l[i + 3]};
    js_vl bits;
    __builtin_memcpy(&bits, &x, sizeof x);
    js_vl hx = (bits >> 32) & 0x7FFFFFFF;
    js_vl ok = (hx >= 0x3FF0A2B2) & (x > -708.0) & (x < 709.0);
    if (!(ok[0] & ok[1] & ok[2] & ok[3])) {
      for (int j = 0; j < 4; j++) out[i + j] = js_exp(x[j]);
      continue;
    }
    js_vd half = (js_vd){0.5, 0.5, 0.5, 0.5};
    half = (js_vd)(((js_vl)half & ~(x < 0)) | ((js_vl)(-half) & (x < 0))); /* halF[xsb] */
    js_vl k = __builtin_convertvector(invln2 * x + half, js_vl);         /* truncation, as (int32_t) */
    js_vd t = __builtin_convertvector(k, js_vd);
    js_vd hi = x - t * ln2HI, lo = t * ln2LO;
    x = hi - lo;
    t = x * x;
    js_vd c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    js_vd y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
    js_vl twopk_bits = (k + 1023) << 52; /* the words (0x3FF00000 + (k << 20), 0) */
    js_vd twopk;
    __builtin_memcpy(&twopk, &twopk_bits, sizeof twopk);
    y = y * twopk;
    __builtin_memcpy(out + i, &y, sizeof y);
  }
  for (; i < n; i++) out[i] = js_exp(l[i]);
}

/* Math.log (fdlibm e_log.c) */
static inline double js_log(double x) {
  static const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                      two54 = 1.80143985094819840000e+16, Lg1 = 6.666666666666735130e-01,
                      Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                      Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01,
                      Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;
  double hfsq, f, s, z, R, w, t1, t2, dk;
  int32_t k = 0, hx = (int32_t)js_hi(x), i, j;
  uint32_t lx = js_lo(x);
  if (hx < 0x00100000) {                                              /* x < 2**-1022 */
    if (((hx & 0x7FFFFFFF) | lx) == 0) return -__builtin_inf();       /* log(+-0) = -inf */
    if (hx < 0) return __builtin_nan("");                             /* log(-#) = NaN */
    k -= 54;
    x *= two54; /* subnormal: scale up */
    hx = (int32_t)js_hi(x);
  }
  if (hx >= 0x7FF00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000FFFFF;
  i = (hx + 0x95F64) & 0x100000;
  x = js_set_hi(x, (uint32_t)(hx | (i ^ 0x3FF00000))); /* normalise x or x/2 */
  k += (i >> 20);
  f = x - 1.0;
  if ((0x000FFFFF & (2 + hx)) < 3) { /* -2**-20 <= f < 2**-20 */
    if (f == 0.0) {
      if (k == 0) return 0.0;
      dk = (double)k;
      return dk * ln2_hi + dk * ln2_lo;
    }
    R = f * f * (0.5 - 0.33333333333333333 * f);
    if (k == 0) return f - R;
    dk = (double)k;
    return dk * ln2_hi - ((R - dk * ln2_lo) - f);
  }
  s = f / (2.0 + f);
  dk = (double)k;
  z = s * s;
  i = hx - 0x6147A;
  w = z * z;
  j = 0x6B851 - hx;
  t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  i |= j;
  R = t2 + t1;
  if (i > 0) {
    hfsq = 0.5 * f * f;
    if (k == 0) return f - (hfsq - s * (hfsq + R));
    return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  }
  if (k == 0) return f - s * (f - R);
  return dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
}

/* x * 2^n, one rounding (fdlibm s_scalbn.c) */
static inline double js_scalbn(double x, int n) {
  static const double two54 = 1.80143985094819840000e+16, twom54 = 5.55111512312578270212e-17, huge = 1.0e+300,
                      tiny = 1.0e-300;
  int32_t hx = (int32_t)js_hi(x), k = (hx & 0x7ff00000) >> 20;
  uint32_t lx = js_lo(x);
  if (k == 0) { /* 0 or subnormal x */
    if ((lx | (hx & 0x7fffffff)) == 0) return x;
    x *= two54;
    hx = (int32_t)js_hi(x);
    k = ((hx & 0x7ff00000) >> 20) - 54;
    if (n < -50000) return tiny * x;
  }
  if (k == 0x7ff) return x + x; /* NaN or Inf */
  k = k + n;
  if (k > 0x7fe) return huge * __builtin_copysign(huge, x);
  if (k > 0) return js_set_hi(x, (uint32_t)((hx & 0x800fffff) | (k << 20)));
  if (k <= -54) {
    if (n > 50000) return huge * __builtin_copysign(huge, x);
    return tiny * __builtin_copysign(tiny, x);
  }
  k += 54;
  x = js_set_hi(x, (uint32_t)((hx & 0x800fffff) | (k << 20)));
  return x * twom54;
}

/* Math.pow (V8's legacy::pow, fdlibm e_pow.c; (+-1) ** (+-inf) is NaN as ECMAScript has it) */
static inline double js_pow(double x, double y) {
  static const double bp[] = {1.0, 1.5}, dp_h[] = {0.0, 5.84962487220764160156e-01},
                      dp_l[] = {0.0, 1.35003920212974897128e-08}, zero = 0.0, one = 1.0, two = 2.0,
                      two53 = 9007199254740992.0, huge = 1.0e300, tiny = 1.0e-300,
                      L1 = 5.99999999999994648725e-01, L2 = 4.28571428578550184252e-01,
                      L3 = 3.33333329818377432918e-01, L4 = 2.72728123808534006489e-01,
                      L5 = 2.30660745775561754067e-01, L6 = 2.06975017800338417784e-01,
                      P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                      P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                      P5 = 4.13813679705723846039e-08, lg2 = 6.93147180559945286227e-01,
                      lg2_h = 6.93147182464599609375e-01, lg2_l = -1.90465429995776804525e-09,
                      ovt = 8.0085662595372944372e-0017, cp = 9.61796693925975554329e-01,
                      cp_h = 9.61796700954437255859e-01, cp_l = -7.02846165095275826516e-09,
                      ivln2 = 1.44269504088896338700e+00, ivln2_h = 1.44269502162933349609e+00,
                      ivln2_l = 1.92596299112661746887e-08;
  double z, ax, z_h, z_l, p_h, p_l, y1, t1, t2, r, s, t, u, v, w;
  int32_t i, j, k, yisint, n, hx = (int32_t)js_hi(x), hy = (int32_t)js_hi(y), ix, iy;
  uint32_t lx = js_lo(x), ly = js_lo(y);
  ix = hx & 0x7fffffff;
  iy = hy & 0x7fffffff;
  if ((iy | ly) == 0) return one; /* x**0 = 1 */
  if (ix > 0x7ff00000 || (ix == 0x7ff00000 && lx != 0) || iy > 0x7ff00000 || (iy == 0x7ff00000 && ly != 0))
    return x + y; /* NaN */
  /* yisint: 0 y not an integer, 1 odd, 2 even (only needed when x < 0) */
  yisint = 0;
  if (hx < 0) {
    if (iy >= 0x43400000) {
      yisint = 2;
    } else if (iy >= 0x3ff00000) {
      k = (iy >> 20) - 0x3ff;
      if (k > 20) {
        j = (int32_t)(ly >> (52 - k));
        if (((uint32_t)j << (52 - k)) == ly) yisint = 2 - (j & 1);
      } else if (ly == 0) {
        j = iy >> (20 - k);
        if ((j << (20 - k)) == iy) yisint = 2 - (j & 1);
      }
    }
  }
  if (ly == 0) {
    if (iy == 0x7ff00000) { /* y is +-inf */
      if (((ix - 0x3ff00000) | lx) == 0) return y - y; /* (+-1)**+-inf is NaN */
      if (ix >= 0x3ff00000) return hy >= 0 ? y : zero;
      return hy < 0 ? -y : zero;
    }
    if (iy == 0x3ff00000) return hy < 0 ? one / x : x; /* y is +-1 */
    if (hy == 0x40000000) return x * x;               /* y is 2 */
    if (hy == 0x3fe00000 && hx >= 0) return __builtin_sqrt(x);
  }
  ax = __builtin_fabs(x);
  if (lx == 0 && (ix == 0x7ff00000 || ix == 0 || ix == 0x3ff00000)) { /* x is +-0, +-inf, +-1 */
    z = ax;
    if (hy < 0) z = one / z;
    if (hx < 0) {
      if (((ix - 0x3ff00000) | yisint) == 0)
        z = __builtin_nan(""); /* (-1)**non-int */
      else if (yisint == 1)
        z = -z;
    }
    return z;
  }
  n = (hx >> 31) + 1;
  if ((n | yisint) == 0) return __builtin_nan(""); /* (x<0)**(non-int) */
  s = one;
  if ((n | (yisint - 1)) == 0) s = -one; /* (-ve)**(odd int) */
  if (iy > 0x41e00000) {                 /* |y| > 2**31 */
    if (iy > 0x43f00000) {               /* |y| > 2**64: must over/underflow */
      if (ix <= 0x3fefffff) return hy < 0 ? huge * huge : tiny * tiny;
      if (ix >= 0x3ff00000) return hy > 0 ? huge * huge : tiny * tiny;
    }
    if (ix < 0x3fefffff) return hy < 0 ? s * huge * huge : s * tiny * tiny;
    if (ix > 0x3ff00000) return hy > 0 ? s * huge * huge : s * tiny * tiny;
    t = ax - one;
    w = (t * t) * (0.5 - t * (0.3333333333333333333333 - t * 0.25));
    u = ivln2_h * t;
    v = t * ivln2_l - w * ivln2;
    t1 = js_set_lo(u + v, 0);
    t2 = v - (t1 - u);
  } else {
    double ss, s2, s_h, s_l, t_h, t_l;
    n = 0;
    if (ix < 0x00100000) { /* subnormal x */
      ax *= two53;
      n -= 53;
      ix = (int32_t)js_hi(ax);
    }
    n += (ix >> 20) - 0x3ff;
    j = ix & 0x000fffff;
    ix = j | 0x3ff00000;
    if (j <= 0x3988E) {
      k = 0; /* |x| < sqrt(3/2) */
    } else if (j < 0xBB67A) {
      k = 1; /* |x| < sqrt(3) */
    } else {
      k = 0;
      n += 1;
      ix -= 0x00100000;
    }
    ax = js_set_hi(ax, (uint32_t)ix);
    u = ax - bp[k];
    v = one / (ax + bp[k]);
    ss = u * v;
    s_h = js_set_lo(ss, 0);
    t_h = js_words((uint32_t)(((ix >> 1) | 0x20000000) + 0x00080000 + (k << 18)), 0);
    t_l = ax - (t_h - bp[k]);
    s_l = v * ((u - s_h * t_h) - s_h * t_l);
    s2 = ss * ss;
    r = s2 * s2 * (L1 + s2 * (L2 + s2 * (L3 + s2 * (L4 + s2 * (L5 + s2 * L6)))));
    r += s_l * (s_h + ss);
    s2 = s_h * s_h;
    t_h = js_set_lo(3.0 + s2 + r, 0);
    t_l = r - ((t_h - 3.0) - s2);
    u = s_h * t_h;
    v = s_l * t_h + t_l * ss;
    p_h = js_set_lo(u + v, 0);
    p_l = v - (p_h - u);
    z_h = cp_h * p_h;
    z_l = cp_l * p_h + p_l * cp + dp_l[k];
    t = (double)n;
    t1 = js_set_lo(((z_h + z_l) + dp_h[k]) + t, 0);
    t2 = z_l - (((t1 - t) - dp_h[k]) - z_h);
  }
  /* (y1 + y2) * (t1 + t2) */
  y1 = js_set_lo(y, 0);
  p_l = (y - y1) * t1 + y * t2;
  p_h = y1 * t1;
  z = p_l + p_h;
  j = (int32_t)js_hi(z);
  i = (int32_t)js_lo(z);
  if (j >= 0x40900000) {                      /* z >= 1024 */
    if (((j - 0x40900000) | i) != 0) return s * huge * huge;
    if (p_l + ovt > z - p_h) return s * huge * huge;
  } else if ((j & 0x7fffffff) >= 0x4090cc00) { /* z <= -1075 */
    if (((j - (int32_t)0xc090cc00) | i) != 0) return s * tiny * tiny;
    if (p_l <= z - p_h) return s * tiny * tiny;
  }
  /* 2**(p_h + p_l) */
  i = j & 0x7fffffff;
  k = (i >> 20) - 0x3ff;
  n = 0;
  if (i > 0x3fe00000) { /* |z| > 0.5: n = [z + 0.5] */
    n = j + (0x00100000 >> (k + 1));
    k = ((n & 0x7fffffff) >> 20) - 0x3ff;
    t = js_words((uint32_t)(n & ~(0x000fffff >> k)), 0);
    n = ((n & 0x000fffff) | 0x00100000) >> (20 - k);
    if (j < 0) n = -n;
    p_h -= t;
  }
  t = js_set_lo(p_l + p_h, 0);
  u = t * lg2_h;
  v = (p_l - (t - p_h)) * lg2 + t * lg2_l;
  z = u + v;
  w = v - (z - u);
  t = z * z;
  t1 = z - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  r = (z * t1) / ((t1 - two) - (w + z * w));
  z = one - (r - z);
  j = (int32_t)js_hi(z);
  j += (int32_t)((uint32_t)n << 20);
  if ((j >> 20) <= 0)
    z = js_scalbn(z, n); /* subnormal output */
  else
    z = js_set_hi(z, js_hi(z) + ((uint32_t)n << 20));
  return s * z;
}

#endif
