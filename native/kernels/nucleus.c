/* Nucleus (top-p) filter of float64 probability rows in place, rows in parallel: the exact kernel of
 * src/sampling/nucleus.ts nucleusFilter (same kept set, same sums, bit for bit). Per row: sort the values >= max/4096
 * ascending (all values when the walk does not cross p inside them), walk them from the top with a sequential
 * float64 cumulative sum (keep while cum <= p, always the top-1, the crossing token only with includeCrossing), then
 * keep that many largest entries (ties at the cutoff by lower index) and renormalise in index order. Only the sorted
 * VALUES matter (equal values add the same), so any exact sort will do: here LSD radix on order-preserving keys. */
#include "../kernels.h"
#include "../parallel.h"

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

/* values of row >= tau into out; -1 when the row has a NaN */
static int collect(const double *row, int V, double tau, double *out) {
  int n = 0;
  for (int i = 0; i < V; i++) {
    double v = row[i];
    if (v != v) return -1;
    if (v >= tau) out[n++] = v;
  }
  return n;
}

/* kept count of the walk over ascending s from its top, -1 if it never crosses p */
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

/* keep the `keep` largest of row (ties at the cutoff by lower index), zero the rest, renormalise */
static void keep_top(double *row, int V, const double *sorted, int n, int keep) {
  double cut = sorted[n - keep];
  int above = 0;
  for (int j = n - keep + 1; j < n; j++) above += sorted[j] > cut;
  int ties = keep - above;
  double s = 0;
  for (int i = 0; i < V; i++) {
    double v = row[i];
    if (v > cut) {
    } else if (v == cut && ties > 0)
      ties--;
    else
      row[i] = 0;
    s += row[i];
  }
  for (int i = 0; i < V; i++) row[i] /= s;
}

/* 0, or 1 for a row with a NaN (left unchanged: the comparator sort of the definition is then engine-defined) */
static int nucleus_row(double *row, int V, double p, int incl, double *buf, double *tmp) {
  double mx = 0;
  for (int i = 0; i < V; i++)
    if (row[i] > mx) mx = row[i];
  int n = collect(row, V, mx * 0x1p-12, buf);
  if (n < 0) return 1;
  sort_values(buf, tmp, n);
  int keep = walk(buf, n, p, incl);
  if (keep < 0 && n < V) {
    n = collect(row, V, -__builtin_inf(), buf);
    sort_values(buf, tmp, n);
    keep = walk(buf, n, p, incl);
  }
  keep_top(row, V, buf, n, keep < 0 ? V : keep);
  return 0;
}

typedef struct {
  double *probs;
  int V, incl;
  double p;
  int32_t *fallback;
} nucleus_ctx;

static void nucleus_task(void *ctx, int r0, int r1, int tid) {
  (void)tid;
  const nucleus_ctx *c = (const nucleus_ctx *)ctx;
  double *buf = (double *)bd_alloc((size_t)c->V * 2 * sizeof(double));
  for (int r = r0; r < r1; r++)
    c->fallback[r] = buf ? nucleus_row(c->probs + (int64_t)r * c->V, c->V, c->p, c->incl, buf, buf + c->V) : 1;
  if (buf) bd_free(buf);
}

void bd_nucleus(double *probs, int rows, int V, double p, int includeCrossing, int32_t *fallback) {
  if (rows <= 0 || V <= 0) return;
  nucleus_ctx c = {probs, V, includeCrossing, p, fallback};
  bd_parallel_for(rows, 1, nucleus_task, &c);
}
