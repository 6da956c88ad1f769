/* Thread pool and heap for the Node addon (see parallel.h). Workers spin briefly for the next job and then
 * sleep on a condition variable, so an idle pool does not compete with OpenBLAS's threads for the 2 cores.
 * A job is open while its chunks are being handed out; the caller closes it once it has run out of chunks and
 * waits only for workers that joined it, so a worker that wakes late skips the job instead of delaying the caller. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign, sysconf */
#include "parallel.h"
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64
#define SPIN_ITERS 20000

static atomic_int g_threads;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t g_submit = PTHREAD_MUTEX_INITIALIZER;
/* job state: generation * 2 + open bit */
static atomic_uint g_state;
static atomic_int g_next, g_active;
static _Thread_local int t_in_pool = 0;

static struct {
  bd_range_fn fn;
  void *ctx;
  int n, chunk;
} g_job;

static void run_chunks(int tid) {
  for (;;) {
    int c = atomic_fetch_add(&g_next, 1);
    int begin = c * g_job.chunk;
    if (begin >= g_job.n) break;
    int end = begin + g_job.chunk < g_job.n ? begin + g_job.chunk : g_job.n;
    g_job.fn(g_job.ctx, begin, end, tid);
  }
}

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  t_in_pool = 1;
  unsigned seen = atomic_load(&g_state) >> 1;
  for (;;) {
    unsigned s;
    int spins = 0;
    while (((s = atomic_load(&g_state)) >> 1) == seen && spins < SPIN_ITERS) spins++;
    if ((s >> 1) == seen) {
      pthread_mutex_lock(&g_mu);
      while (((s = atomic_load(&g_state)) >> 1) == seen) pthread_cond_wait(&g_cv, &g_mu);
      pthread_mutex_unlock(&g_mu);
    }
    seen = s >> 1;
    if (!(s & 1)) continue; /* already closed: nothing left for a late worker */
    atomic_fetch_add(&g_active, 1);
    /* joined only if the job is still the same and open; otherwise the caller may not wait for us */
    if (atomic_load(&g_state) == s) run_chunks(tid);
    atomic_fetch_sub(&g_active, 1);
  }
  return NULL;
}

static void init_pool(void) {
  if (atomic_load(&g_threads)) return;
  int n = 0;
  const char *env = getenv("BD3LM_THREADS");
  if (env) n = atoi(env);
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  for (int i = 1; i < n; i++) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, worker, (void *)(intptr_t)i) != 0) {
      n = i;
      break;
    }
    pthread_attr_destroy(&attr);
  }
  atomic_store(&g_threads, n);
}

int bd_num_threads(void) {
  int n = atomic_load(&g_threads);
  if (n) return n; /* lock-free once started: kernels may ask from inside a work item */
  pthread_mutex_lock(&g_submit);
  init_pool();
  pthread_mutex_unlock(&g_submit);
  return atomic_load(&g_threads);
}

void bd_parallel_for(int n, int grain, bd_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (t_in_pool || n <= grain) {
    fn(ctx, 0, n, 0);
    return;
  }
  pthread_mutex_lock(&g_submit);
  init_pool();
  int T = atomic_load(&g_threads);
  if (T == 1) {
    pthread_mutex_unlock(&g_submit);
    fn(ctx, 0, n, 0);
    return;
  }
  /* about 4 chunks per thread for balance, never below the grain */
  int chunk = (n + 4 * T - 1) / (4 * T);
  if (chunk < grain) chunk = grain;
  g_job.fn = fn;
  g_job.ctx = ctx;
  g_job.n = n;
  g_job.chunk = chunk;
  atomic_store(&g_next, 0);
  unsigned gen = (atomic_load(&g_state) >> 1) + 1;
  pthread_mutex_lock(&g_mu);
  atomic_store(&g_state, gen * 2 + 1); /* open */
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  t_in_pool = 1;
  run_chunks(0);
  t_in_pool = 0;
  atomic_store(&g_state, gen * 2); /* closed: late workers skip it */
  while (atomic_load(&g_active) > 0) { /* joined workers finish their last chunk */ }
  pthread_mutex_unlock(&g_submit);
}

void *bd_alloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
  return p;
}

void bd_free(void *p) { free(p); }
