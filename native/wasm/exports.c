/* The wasm module's runtime exports (memory, threads, the pool's self-test). The kernels' exports are defined next
 * to the kernels (BD_WASM in the kernel files of native/kernels, listed in native/kernels.def). */
#include "../kernels.h"
#include "../parallel.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* zero: JS callers expect fresh arrays to read 0 (like new Float32Array); scratch skips the fill */
void *bd_alloc_zeroed(size_t bytes);
EXPORT("alloc") void *w_alloc(int bytes, int zero) {
  return zero ? bd_alloc_zeroed((unsigned)bytes) : bd_alloc((unsigned)bytes);
}
EXPORT("free") void w_free(void *p) { bd_free(p); }
EXPORT("num_threads") int w_num_threads(void) { return bd_num_threads(); }

/* Self-test of the pool for test/wasm.test.ts: out[i] += i + 1 and hits[tid]++ per item. A nested parallel_for
 * inside a work item of a split job must run serially on the calling thread; hits[63] counts violations.
 * (When the outer call ran serially, as one item [0, n), the inner one may use the pool.) */
typedef struct {
  int *out, *hits, n;
} selftest_ctx;
typedef struct {
  selftest_ctx *c;
  int tid;
} selftest_nested;

static void selftest_inner(void *ctx, int b, int e, int tid) {
  selftest_nested *x = ctx;
  if (tid != x->tid || b != 0 || e != 7) x->c->hits[63]++;
}

static void selftest_fn(void *ctx, int b, int e, int tid) {
  selftest_ctx *c = ctx;
  for (int i = b; i < e; i++) {
    c->out[i] += i + 1;
    c->hits[tid]++;
  }
  if (b == 0 && e == c->n) return;
  selftest_nested x = {c, tid};
  bd_parallel_for(7, 1, selftest_inner, &x);
}

EXPORT("parallel_selftest") void w_parallel_selftest(int n, int grain, int *out, int *hits) {
  selftest_ctx c = {out, hits, n};
  bd_parallel_for(n, grain, selftest_fn, &c);
}
