/* libm-free float math for the kernels (the wasm build has no libc). Cephes-style range reduction + minimax
 * polynomials: ~1-2 ulp against libm on the ranges the kernels use. Branch-free vector forms vectorise. */
#ifndef BD_MATHF_H
#define BD_MATHF_H
#include "vec.h"

#define BD_INF (__builtin_inff())
#define BD_NAN (__builtin_nanf(""))

/* exp(x): exact-ish for x in [-87.34, 88.37]; 0 below (libm would give denormals), +inf above (libm gives finite
 * values up to 88.72; the kernels only call exp on x <= 0 or where overflow means "the other term wins"). NaN in,
 * NaN out. n = round(x / ln2) comes from the 1.5*2^23 trick so no float->int conversion is needed (wasm traps). */
static inline vf bd_vexp(vf x) {
  const float hi = 88.3762626647949f, lo = -87.3365478515625f, magic = 12582912.0f;
  vi over = x > hi, under = x < lo;
  x = vsel(over, vset1(hi), x);
  x = vsel(under, vset1(lo), x);
  vf t = x * 1.44269504088896341f + magic;
  vf n = t - magic;
  vi e = ((vi)t - (vi)vset1(magic) + 127) << 23; /* 2^n as float bits, n in [-126, 127] */
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf p = 1.9875691500e-4f * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  vf y = p * (vf)e;
  y = vsel(over, vset1(BD_INF), y);
  return vsel(under, vset1(0.0f), y);
}

static inline float bd_expf(float x) { return bd_vexp(vset1(x))[0]; }

static inline uint32_t bd_f2u(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
static inline float bd_u2f(uint32_t u) {
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

/* natural log (Cephes logf), scalar: used once per row */
static inline float bd_logf(float x) {
  if (!(x > 0.0f)) return x == 0.0f ? -BD_INF : BD_NAN;
  if (x == BD_INF) return x;
  int e = 0;
  if (x < 1.17549435e-38f) { /* denormal: scale into the normal range */
    x *= 16777216.0f;
    e = -24;
  }
  uint32_t u = bd_f2u(x);
  e += (int)((u >> 23) & 0xff) - 126;
  float m = bd_u2f((u & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
  if (m < 0.707106781186547524f) {
    e -= 1;
    m = m + m - 1.0f;
  } else {
    m = m - 1.0f;
  }
  float z = m * m;
  float y = 7.0376836292e-2f * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  float fe = (float)e;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

static inline float bd_sqrtf(float x) { return __builtin_sqrtf(x); }

#endif
