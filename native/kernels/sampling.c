/* The per-row work of the block sampler (spec 5.1-5.3), rows in parallel: the denoiser's probabilities from its
 * SUBS log-probabilities (float64 exp, then temperature -> top-k -> top-p), and categorical draws from them, through
 * the DDPM posterior when asked. Exactly the TypeScript definition (RefBackend.sampleRows over
 * src/sampling/{filters,nucleus,categorical,random}.ts), bit for bit: the same float64 operations in the same order,
 * JavaScript's exp/log/pow (jsmath.h), and the seeded noise regenerated from its words instead of being passed in.
 *
 * Top-k and top-p only depend on the sorted VALUES of a row (equal values add the same), so any exact sort will do:
 * an LSD radix sort keyed by the float32 log-probs the values came from (checked, see collect_sorted); top-p first
 * sorts only the values >= max/4096, which decide the cut whenever the walk crosses p among them (every other value
 * is smaller, so it would come later). Scratch comes from the reusable cache (scratch.h). */
#include "../kernels.h"
#include "../parallel.h"
#include "jsmath.h"
#include "scratch.h"

/* the keys are written over the doubles' storage */
typedef uint64_t __attribute__((may_alias)) u64a;

#define RADIX_BITS 11
#define RADIX (1 << RADIX_BITS)

/* order-preserving map of doubles to unsigned keys (-0 sorts before +0: equal values either way) and back */
static inline uint64_t key_of(uint64_t b) { return b >> 63 ? ~b : b | 0x8000000000000000ull; }
static inline uint64_t bits_of(uint64_t k) { return k >> 63 ? k & 0x7fffffffffffffffull : ~k; }

/* ascending sort of v[0..n) (no NaN; tmp: n doubles of scratch): insertion sort when short, else LSD radix on the
 * keys, skipping the passes whose digit is the same for every key */
static void sort_values(double *v, double *tmp, int n) {
  if (n <= 32) {
    for (int k = 1; k < n; k++) {
      double x = v[k];
      int j = k - 1;
      for (; j >= 0 && v[j] > x; j--) v[j + 1] = v[j];
      v[j + 1] = x;
    }
    return;
  }
  u64a *a = (u64a *)v, *b = (u64a *)tmp;
  for (int i = 0; i < n; i++) a[i] = key_of(a[i]);
  int count[RADIX];
  for (int shift = 0; shift < 64; shift += RADIX_BITS) {
    __builtin_memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) count[(a[i] >> shift) & (RADIX - 1)]++;
    if (count[(a[0] >> shift) & (RADIX - 1)] == n) continue;
    for (int d = 0, s = 0; d < RADIX; d++) {
      int c = count[d];
      count[d] = s;
      s += c;
    }
    for (int i = 0; i < n; i++) b[count[(a[i] >> shift) & (RADIX - 1)]++] = a[i];
    u64a *t = a;
    a = b;
    b = t;
  }
  u64a *out = (u64a *)v;
  for (int i = 0; i < n; i++) out[i] = bits_of(a[i]);
}

/* order-preserving key of a float */
static inline uint32_t fkey(float f) {
  uint32_t b;
  __builtin_memcpy(&b, &f, 4);
  return b >> 31 ? ~b : b | 0x80000000u;
}

/* The values of row >= tau, ascending, into out (n returned; -1 when the row has a NaN), ordered through the float32
 * log-probs l they were computed from: 32-bit keys need half the radix passes of the doubles' 64-bit ones. A row's
 * values are a monotone function of l only in exact arithmetic, so the order is checked and, if a rounding broke
 * it, the values are sorted themselves. tmp: n doubles of scratch. */
static int collect_sorted(const double *row, const float *l, int V, double tau, double *out, double *tmp) {
  u64a *a = (u64a *)out, *b = (u64a *)tmp;
  int n = 0;
  for (int i = 0; i < V; i++) {
    double v = row[i];
    if (v != v) return -1;
    if (v >= tau) a[n++] = (uint64_t)fkey(l[i]) << 32 | (uint32_t)i; /* the index rides in the low word */
  }
  /* LSD radix over the key bits that vary (a row's log-probs mostly share sign and exponent), <= 12 per pass */
  uint64_t lo = ~0ull, hi = 0;
  for (int i = 0; i < n; i++) lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
  int bits = n > 1 && (lo ^ hi) >> 32 ? 64 - __builtin_clzll((lo ^ hi) >> 32) : 0;
  int passes = (bits + 11) / 12, width = passes ? (bits + passes - 1) / passes : 0;
  int count[1 << 12];
  for (int q = 0, shift = 32; q < passes; q++, shift += width) {
    const uint64_t mask = (1u << width) - 1;
    __builtin_memset(count, 0, sizeof(int) << width);
    for (int i = 0; i < n; i++) count[(a[i] >> shift) & mask]++;
    for (int d = 0, s = 0; d < 1 << width; d++) {
      int c = count[d];
      count[d] = s;
      s += c;
    }
    for (int i = 0; i < n; i++) b[count[(a[i] >> shift) & mask]++] = a[i];
    u64a *t = a;
    a = b;
    b = t;
  }
  /* values in key order into the buffer that does not hold the keys, then into out */
  double *vals = (double *)b;
  int sorted = 1;
  for (int i = 0; i < n; i++) {
    vals[i] = row[(uint32_t)a[i]];
    sorted &= i == 0 || vals[i - 1] <= vals[i];
  }
  if (vals != out) __builtin_memcpy(out, vals, (size_t)n * sizeof(double));
  if (!sorted) sort_values(out, tmp, n);
  return n;
}

/* kept count of the nucleus walk over ascending s from its top, -1 if it never crosses p */
static int walk(const double *s, int n, double p, int incl) {
  double c = 0;
  for (int j = 0; j < n; j++) {
    double v = s[n - 1 - j];
    c += v;
    if (j == 0 || c <= p) continue;
    return incl && c - v < p ? j + 1 : j;
  }
  return -1;
}

/* keep the `keep` largest of row (ties at the cutoff by lower index), zero the rest, renormalise in index order;
 * sorted[0..n) holds every value >= the cutoff */
static void keep_top(double *row, int V, const double *sorted, int n, int keep) {
  double cut = sorted[n - keep];
  int above = 0, equal = 0;
  for (int j = n - keep + 1; j < n; j++) above += sorted[j] > cut;
  for (int j = n - keep; j >= 0 && sorted[j] == cut; j--) equal++;
  for (int j = n - keep + 1; j < n && sorted[j] == cut; j++) equal++;
  int ties = keep - above;
  double s = 0;
  if (ties == equal) {
    /* every value equal to the cutoff is kept: a comparison decides each entry, without a branch (a kept/zeroed
     * pattern that a branch would mispredict on flat rows) */
    for (int i = 0; i < V; i++) {
      uint64_t b;
      __builtin_memcpy(&b, row + i, 8);
      b &= -(uint64_t)(row[i] >= cut);
      double v;
      __builtin_memcpy(&v, &b, 8);
      s += row[i] = v;
    }
  } else {
    for (int i = 0; i < V; i++) {
      double v = row[i];
      int kept = v > cut;
      if (v == cut) {
        kept = ties > 0;
        ties -= kept;
      }
      s += row[i] = kept ? v : 0;
    }
  }
  for (int i = 0; i < V; i++) row[i] /= s;
}

/* top-k (src/tensor/sampling/nucleus.ts topKFilter) of a row computed from the log-probs l; 1 for a row with a NaN (left
 * unchanged) */
static int top_k_row(double *row, const float *l, int V, int k, double *buf, double *tmp) {
  int n = collect_sorted(row, l, V, -__builtin_inf(), buf, tmp);
  if (n < 0) return 1;
  keep_top(row, V, buf, n, k < V ? k : V);
  return 0;
}

/* top-p (nucleusFilter) of a row computed from the log-probs l; 1 for a row with a NaN (left unchanged) */
static int nucleus_row(double *row, const float *l, int V, double p, int incl, double *buf, double *tmp) {
  double mx = 0;
  for (int i = 0; i < V; i++)
    if (row[i] > mx) mx = row[i];
  int n = collect_sorted(row, l, V, mx * 0x1p-12, buf, tmp);
  if (n < 0) return 1;
  int keep = walk(buf, n, p, incl);
  if (keep < 0 && n < V) {
    n = collect_sorted(row, l, V, -__builtin_inf(), buf, tmp);
    keep = walk(buf, n, p, incl);
  }
  keep_top(row, V, buf, n, keep < 0 ? V : keep);
  return 0;
}

/* ---- noise: explicit rows, or regenerated from a seeded draw's words (src/tensor/sampling/random.ts seededRow) ---- */

typedef struct {
  const double *u; /* explicit row, or NULL: the generator below */
  uint32_t s[4];
} noise_t;

static inline uint32_t rotl(uint32_t x, int k) { return x << k | x >> (32 - k); }

/* splitmix32 over (b0, b1, r) -> the four xoshiro128** words of row r */
static void noise_seed(noise_t *g, uint32_t b0, uint32_t b1, uint32_t r) {
  uint32_t x = b0 ^ (r + 1) * 0x9e3779b9u;
  for (int i = 0; i < 4; i++) {
    x += 0x9e3779b9u + (i == 2 ? b1 : 0);
    uint32_t z = x;
    z = (z ^ z >> 16) * 0x85ebca6bu;
    z = (z ^ z >> 13) * 0xc2b2ae35u;
    g->s[i] = z ^ z >> 16;
  }
  if ((g->s[0] | g->s[1] | g->s[2] | g->s[3]) == 0) g->s[0] = 1; /* xoshiro's all-zero state is a fixed point */
}

static inline uint32_t xoshiro_next(uint32_t *s) {
  uint32_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return res;
}

/* u_v of the row, v = 0, 1, ... in order (two generator words per 53-bit uniform, as Rng.uniform) */
static inline double noise_at(noise_t *g, int v) {
  if (g->u) return g->u[v];
  uint32_t hi = xoshiro_next(g->s) >> 5, lo = xoshiro_next(g->s) >> 6;
  return ((double)hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

/* ---- the categorical race (src/tensor/sampling/categorical.ts), on q = p or the DDPM posterior of p ---- */

typedef struct {
  int maskId; /* < 0: no posterior */
  double keep, stay;
} post_t;

static inline double q_at(const double *p, int v, const post_t *q) {
  if (q->maskId < 0) return p[v];
  return v == q->maskId ? q->stay : p[v] * q->keep;
}

/* the definition: argmax of q / (1e-10 - ln(u + 1e-10)), the first maximum, a NaN score wins */
static int race_full(const double *p, const post_t *q, noise_t g, int V) {
  double best = -__builtin_inf();
  int arg = 0;
  for (int v = 0; v < V; v++) {
    double s = q_at(p, v, q) / (1e-10 - js_log(noise_at(&g, v) + 1e-10));
    if (s != s) return v;
    if (s > best || (v == 0 && s == best)) best = s, arg = v;
  }
  return arg;
}

/* sampleRow: skips the logs that cannot change the result (see categorical.ts), else the full race */
static int race(const double *p, const post_t *q, noise_t g, int V) {
  noise_t g0 = g;
  double best = -__builtin_inf(), thr = -__builtin_inf();
  int arg = -1;
  for (int v = 0; v < V; v++) {
    double pv = q_at(p, v, q), uv = noise_at(&g, v);
    if (uv <= 0.99 && pv < thr * (1 - uv)) continue;
    if (pv == 0 && uv < 0.5) continue;
    double s = pv / (1e-10 - js_log(uv + 1e-10));
    if (s != s) return v;
    if (s > best) {
      best = s;
      arg = v;
      if (s > 0) thr = s * (1 - 1e-9);
    }
  }
  return best > 0 ? arg : race_full(p, q, g0, V);
}

/* ---- the kernel ---- */

typedef struct {
  const bd_sample_rows_args *a;
  post_t post;
  int rank; /* top-k or top-p active: scratch needed */
} rows_ctx;

static void draw(const rows_ctx *c, int d) {
  const bd_sample_rows_args *a = c->a;
  noise_t g = {a->noise ? a->noise + (int64_t)d * a->V : 0, {0, 0, 0, 0}};
  if (!a->noise) noise_seed(&g, (uint32_t)a->seeds[3 * d], (uint32_t)a->seeds[3 * d + 1], (uint32_t)a->seeds[3 * d + 2]);
  a->out[d] = race(a->probs + (int64_t)a->drawRow[d] * a->V, &c->post, g, a->V);
}

/* p = filters(exp(logp)) for row r (src/tensor/sampling/filters.ts applyFilters); 1 when top-k / top-p are left to the
 * caller (no scratch), BD_NOT_A_DISTRIBUTION when the row has a NaN or infinity or no positive entry (not filtered:
 * nothing may be drawn from it). The temperature is (p / max p)^(1/T), so the largest entry stays 1 and no row
 * underflows to 0/0; T = 0 is greedy, a one-hot row at the first maximum. */
static int filter_row(const bd_sample_rows_args *a, int r, double *buf) {
  const int V = a->V;
  double *row = a->probs + (int64_t)r * V;
  const float *l = a->logp + (int64_t)r * V;
  js_exp_floats(l, row, V);
  double mx = 0;
  int arg = 0, ok = 1;
  for (int v = 0; v < V; v++) {
    double x = row[v];
    ok &= x >= 0 && x < __builtin_inf();
    if (x > mx) mx = x, arg = v;
  }
  if (!ok || !(mx > 0)) return BD_NOT_A_DISTRIBUTION;
  if (a->temperature == 0) {
    for (int v = 0; v < V; v++) row[v] = 0;
    row[arg] = 1;
  } else if (a->temperature != 1) {
    double s = 0;
    for (int v = 0; v < V; v++) s += row[v] = row[v] >= mx ? 1 : row[v] > 0 ? js_pow(row[v] / mx, 1 / a->temperature) : 0;
    for (int v = 0; v < V; v++) row[v] /= s;
  }
  int k = a->topK > 0 && a->topK < V, p = a->topP < 1;
  if (!k && !p) return 0;
  if (!buf) return 1;
  if (k && top_k_row(row, l, V, a->topK, buf, buf + V)) return 1;
  return p && nucleus_row(row, l, V, a->topP, a->includeCrossing, buf, buf + V);
}

/* with logp: rows [r0, r1) are filtered, then their draws made (while the row is in cache) */
static void rows_task(void *ctx, int r0, int r1, int tid) {
  (void)tid;
  const rows_ctx *c = (const rows_ctx *)ctx;
  const bd_sample_rows_args *a = c->a;
  int slot = -1;
  double *buf = c->rank ? (double *)bd_scratch_get((size_t)a->V * 2 * sizeof(double), &slot) : 0;
  for (int r = r0; r < r1; r++) {
    int skip = filter_row(a, r, buf);
    a->fallback[r] = skip;
    for (int d = 0; d < a->draws; d++)
      if (a->drawRow[d] == r) {
        if (skip)
          a->out[d] = -1;
        else
          draw(c, d);
      }
  }
  if (buf) bd_scratch_put(buf, slot);
}

static void draws_task(void *ctx, int d0, int d1, int tid) {
  (void)tid;
  for (int d = d0; d < d1; d++) draw((const rows_ctx *)ctx, d);
}

void bd_sample_rows(const bd_sample_rows_args *a) {
  if (a->V <= 0) return;
  rows_ctx c = {a, {a->maskId, a->keep, a->stay}, (a->topK > 0 && a->topK < a->V) || a->topP < 1};
  if (a->logp)
    bd_parallel_for(a->rows, 1, rows_task, &c);
  else
    bd_parallel_for(a->draws, 1, draws_task, &c);
}

/* ---- bindings: the entry points native/kernels.def lists for this file (native/binding.h) ---- */
#include "../binding.h"

#ifdef BD_NAPI_BINDINGS
/* sampleRows(rows, V, probs, logp, temperature, topK, topP, includeCrossing, fallback, drawRow, noise, seeds, maskId,
 * keep, stay, out): see bd_sample_rows. probs a Float64Array [rows][V]; logp a Float32Array [rows][V] or null (then
 * fallback may be null); drawRow, out Int32Arrays of the draws (null: none); noise a Float64Array [draws][V] or null,
 * then seeds an Int32Array [draws][3]; maskId -1: no posterior. */
BD_NAPI(sample_rows) {
  call_t c;
  if (!begin(&c, env, info, "sampleRows", 16)) return NULL;
  int64_t lp, ll, lf, ld, ln, ls, lo;
  int64_t rows = arg_int(&c, 0, "rows", 0, I32MAX), V = arg_int(&c, 1, "V", 1, I32MAX);
  double *probs = (double *)arg_array(&c, 2, "probs", napi_float64_array, 0, &lp);
  const float *logp = F32_OPT(3, "logp", &ll);
  double temperature = arg_num(&c, 4, "temperature");
  int64_t topK = arg_int(&c, 5, "topK", 0, I32MAX);
  double topP = arg_num(&c, 6, "topP");
  int incl = arg_bool(&c, 7, "includeCrossing");
  int32_t *fallback = (int32_t *)arg_array(&c, 8, "fallback", napi_int32_array, 1, &lf);
  const int32_t *drawRow = (const int32_t *)arg_array(&c, 9, "drawRow", napi_int32_array, 1, &ld);
  const double *noise = (const double *)arg_array(&c, 10, "noise", napi_float64_array, 1, &ln);
  const int32_t *seeds = (const int32_t *)arg_array(&c, 11, "seeds", napi_int32_array, 1, &ls);
  int64_t maskId = arg_int(&c, 12, "maskId", -1, I32MAX);
  double keep = arg_num(&c, 13, "keep"), stay = arg_num(&c, 14, "stay");
  int32_t *out = (int32_t *)arg_array(&c, 15, "out", napi_int32_array, 1, &lo);
  int64_t draws = ld;
  if (!c.failed && !(temperature >= 0 && temperature < __builtin_inf())) fail(&c, "'%s' must be >= 0 and finite", "temperature", 0, 0);
  if (!c.failed && !(topP > 0)) fail(&c, "'%s' must be > 0", "topP", 0, 0);
  if (!c.failed && maskId >= V) fail(&c, "'%s' must be < V = %lld", "maskId", V, 0);
  need(&c, "probs", lp, rows * V);
  if (logp) {
    need(&c, "logp", ll, rows * V);
    need(&c, "fallback", lf, rows);
  }
  if (draws) {
    need(&c, "out", lo, draws);
    if (noise)
      need(&c, "noise", ln, draws * V);
    else
      need(&c, "seeds", ls, draws * 3);
    for (int64_t d = 0; d < draws && !c.failed; d++)
      if (drawRow[d] < 0 || drawRow[d] >= rows) fail(&c, "'%s' entry %lld is outside the rows 0..%lld", "drawRow", d, rows - 1);
  }
  if (c.failed) return NULL;
  bd_sample_rows_args a = {(int)rows, (int)V, probs, logp, temperature, (int)topK, topP, incl, fallback, (int)draws,
                           drawRow, noise, seeds, (int)maskId, keep, stay, out};
  bd_sample_rows(&a);
  return undefined(env);
}
#endif

#ifdef BD_WASM_BINDINGS
BD_WASM(sample_rows) void w_sample_rows(int rows, int V, double *probs, const float *logp, double temperature,
                                         int topK, double topP, int incl, int32_t *fallback, int draws,
                                         const int32_t *drawRow, const double *noise, const int32_t *seeds,
                                         int maskId, double keep, double stay, int32_t *out) {
  bd_sample_rows_args a = {rows, V, probs, logp, temperature, topK, topP, incl, fallback, draws,
                           drawRow, noise, seeds, maskId, keep, stay, out};
  bd_sample_rows(&a);
}
#endif
