/* Runtime services (parallel.h) for the WebAssembly build.
 *
 * Threads: the JS side (src/tensor/wasm.ts) instantiates this module once on the main thread and once per worker,
 * all on one shared memory, gives each worker its own stack, then every worker calls bd_worker_main(), which never
 * returns until bd_shutdown(). C globals live in the shared memory, so the job below is seen by every instance.
 * A job is published by bumping g_gen; idle workers spin briefly, then sleep in memory.atomic.wait32.
 * Without the atomics feature (the single-thread build for pages without SharedArrayBuffer) the same code runs
 * with one thread; clang lowers the atomics to plain loads/stores there.
 *
 * Heap: a boundary-tag allocator over [__heap_base, end of memory) that grows the memory on demand. Blocks carry
 * a 64-byte header so payloads stay 64-byte aligned; free blocks sit in power-of-two bins and are coalesced with
 * their neighbours, so big tensors can be freed and reused without fragmenting the 4 GiB address space. */
#include "../parallel.h"
#include <stdatomic.h>
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define SPIN_ITERS 20000

#ifdef __wasm_atomics__
#define wait32(p, v) __builtin_wasm_memory_atomic_wait32((int *)(p), (v), -1)
#define notify(p, n) __builtin_wasm_memory_atomic_notify((int *)(p), (n))
#else
#define wait32(p, v) ((void)0)
#define notify(p, n) ((void)0)
#endif

/* ---- thread pool ----
 * A job is open from the bump of g_gen until the caller, out of chunks, sets g_closed = g_gen. A worker joins by
 * raising g_inside and then checking the job is still open; the caller waits only for g_inside to drop to 0, so a
 * worker that wakes late (futex wake-ups cost ~10-100 us) never delays a small job the caller finished alone. */
static int g_threads = 1;        /* caller + workers; set by JS once the workers run */
static int g_main_can_wait = 0;  /* Node's main thread may block; a browser window's may not */
static atomic_int g_gen, g_closed, g_next, g_inside, g_sleepers, g_main_sleeping, g_shutdown;
/* Per instance (TLS: JS calls __wasm_init_tls in each worker): this thread's id, and whether it runs a work item. */
static _Thread_local int t_tid, t_in_pool;
static struct {
  bd_range_fn fn;
  void *ctx;
  int n, chunk;
} g_job;

EXPORT("bd_set_threads") void bd_set_threads(int n, int main_can_wait) {
  g_threads = n < 1 ? 1 : n;
  g_main_can_wait = main_can_wait;
}

int bd_num_threads(void) { return g_threads; }

static void run_chunks(int tid) {
  for (;;) {
    int c = atomic_fetch_add(&g_next, 1);
    if (c >= (g_job.n + g_job.chunk - 1) / g_job.chunk) break; /* no overflow of c * chunk */
    int begin = c * g_job.chunk;
    int end = g_job.n - begin > g_job.chunk ? begin + g_job.chunk : g_job.n;
    g_job.fn(g_job.ctx, begin, end, tid);
  }
}

EXPORT("bd_worker_main") void bd_worker_main(int tid) {
  int seen = atomic_load(&g_gen);
  if (atomic_load(&g_shutdown)) return; /* shut down before we got here: its bump is already in `seen` */
  t_tid = tid;
  t_in_pool = 1;
  for (;;) {
    int gen, spins = 0;
    while ((gen = atomic_load(&g_gen)) == seen) {
      if (++spins < SPIN_ITERS) continue;
      /* sleepers is raised before the wait re-checks g_gen, so the publisher either sees it or we see the bump */
      atomic_fetch_add(&g_sleepers, 1);
      wait32(&g_gen, seen);
      atomic_fetch_sub(&g_sleepers, 1);
      spins = 0;
    }
    atomic_fetch_add(&g_inside, 1);
    /* Counted in g_inside, so the caller cannot reuse g_job until we leave; re-read which job is current (we may
     * have woken for an older one) and run it unless it is closed (the caller already did it all). The shutdown
     * flag is set before its bump of g_gen, so reading it after `seen` cannot miss it. */
    seen = atomic_load(&g_gen);
    int stop = atomic_load(&g_shutdown);
    if (!stop && atomic_load(&g_closed) != seen) run_chunks(tid);
    if (atomic_fetch_sub(&g_inside, 1) == 1 && atomic_load(&g_main_sleeping)) notify(&g_inside, 1);
    if (stop) return;
  }
}

EXPORT("bd_shutdown") void bd_shutdown(void) {
  atomic_store(&g_shutdown, 1);
  atomic_fetch_add(&g_gen, 1);
  notify(&g_gen, 0xffffffffu);
}

void bd_parallel_for(int n, int grain, bd_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int T = g_threads;
  /* Only the main thread publishes jobs; calls from inside a work item run serially on the calling thread. */
  if (T == 1 || n <= grain || t_in_pool) {
    fn(ctx, 0, n, t_tid);
    return;
  }
  int chunk = (n + 4 * T - 1) / (4 * T); /* ~4 chunks per thread for balance, never below the grain */
  if (chunk < grain) chunk = grain;
  g_job.fn = fn;
  g_job.ctx = ctx;
  g_job.n = n;
  g_job.chunk = chunk;
  atomic_store(&g_next, 0);
  int gen = atomic_fetch_add(&g_gen, 1) + 1;
  if (atomic_load(&g_sleepers)) notify(&g_gen, 0xffffffffu);
  t_in_pool = 1;
  run_chunks(0);
  t_in_pool = 0;
  atomic_store(&g_closed, gen);
  int p, spins = 0;
  while ((p = atomic_load(&g_inside)) != 0) { /* joined workers finish their last chunk */
    if (!g_main_can_wait || ++spins < SPIN_ITERS) continue;
    atomic_store(&g_main_sleeping, 1);
    wait32(&g_inside, p);
    atomic_store(&g_main_sleeping, 0);
    spins = 0;
  }
}

/* ---- heap ---- */
typedef struct blk {
  uint32_t size;      /* whole block incl. header, multiple of 64 */
  uint32_t prev_size; /* size of the block just below, 0 for the first */
  uint32_t used;
  uint32_t pad;
  struct blk *next, *prev; /* bin links while free */
} blk;
#define HDR 64u
#define NBINS 28
#define PAGE 65536u
#define MAX_PAGES 65535u /* stay below 4 GiB so block end addresses fit in 32 bits */

extern unsigned char __heap_base;
static blk *g_bins[NBINS];
static uintptr_t g_lo, g_hi; /* blocks tile [g_lo, g_hi) */
static blk *g_last;
static atomic_int g_lock;
/* Bytes at or above g_hwm were never handed out, so they are still zero from memory.grow, except the headers of
 * blocks starting there (headers absorbed by a merge are cleared). Zeroed allocations fill only below it. */
static uintptr_t g_hwm;

static void lock(void) {
  while (atomic_exchange(&g_lock, 1)) { /* short critical sections: spin */ }
}
static void unlock(void) { atomic_store(&g_lock, 0); }

static int bin_of(uint32_t size) {
  int b = 31 - __builtin_clz(size / HDR);
  return b < NBINS ? b : NBINS - 1;
}
static blk *after(blk *b) { return (blk *)((uintptr_t)b + b->size); }
static blk *before(blk *b) { return (blk *)((uintptr_t)b - b->prev_size); }

static void bin_insert(blk *b) {
  int i = bin_of(b->size);
  b->used = 0;
  b->prev = 0;
  b->next = g_bins[i];
  if (b->next) b->next->prev = b;
  g_bins[i] = b;
}
static void bin_remove(blk *b) {
  if (b->prev) b->prev->next = b->next;
  else g_bins[bin_of(b->size)] = b->next;
  if (b->next) b->next->prev = b->prev;
}

/* Merge a free block (not in a bin) with free neighbours and bin it. */
static void release(blk *b) {
  if (b != g_last) {
    blk *n = after(b);
    if (!n->used) {
      bin_remove(n);
      if (n == g_last) g_last = b;
      b->size += n->size;
      __builtin_memset(n, 0, HDR);
    }
  }
  if (b->prev_size) {
    blk *p = before(b);
    if (!p->used) {
      bin_remove(p);
      if (b == g_last) g_last = p;
      p->size += b->size;
      __builtin_memset(b, 0, HDR);
      b = p;
    }
  }
  if (b != g_last) after(b)->prev_size = b->size;
  bin_insert(b);
}

/* Extend the heap to the end of memory after growing it by enough pages for `need` more bytes. */
static int grow(uint32_t need) {
  uintptr_t end = (uintptr_t)__builtin_wasm_memory_size(0) * PAGE;
  if (!g_lo) g_lo = g_hi = ((uintptr_t)&__heap_base + HDR - 1) & ~(uintptr_t)(HDR - 1);
  uint32_t have = (uint32_t)(end - g_hi);
  if (need > have) {
    uint32_t pages = (need - have + PAGE - 1) / PAGE;
    if (pages < 16) pages = 16; /* amortise tiny growths */
    uint32_t cur = (uint32_t)__builtin_wasm_memory_size(0);
    if (cur + pages > MAX_PAGES) pages = MAX_PAGES - cur;
    if ((uint64_t)pages * PAGE + have < need) return 0;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
    end = (uintptr_t)__builtin_wasm_memory_size(0) * PAGE;
  }
  uint32_t add = (uint32_t)((end - g_hi) & ~(uintptr_t)(HDR - 1));
  if (add < 2 * HDR) return 0;
  blk *b = (blk *)g_hi;
  b->size = add;
  b->prev_size = g_last ? g_last->size : 0;
  b->used = 1;
  g_last = b;
  g_hi += add;
  release(b);
  return 1;
}

static blk *find(uint32_t need) {
  int i = bin_of(need);
  for (blk *b = g_bins[i]; b; b = b->next)
    if (b->size >= need) return b;
  for (i++; i < NBINS; i++)
    if (g_bins[i]) return g_bins[i]; /* every block of a higher bin is large enough */
  return 0;
}

static void *alloc_locked(size_t bytes);

void *bd_alloc(size_t bytes) {
  lock();
  void *p = alloc_locked(bytes);
  unlock();
  return p;
}

/* bd_alloc, zero-filled (for arrays handed to JS, which expects new arrays to read 0). */
void *bd_alloc_zeroed(size_t bytes) {
  lock();
  uintptr_t hwm = g_hwm;
  unsigned char *p = alloc_locked(bytes);
  if (p && (uintptr_t)p < hwm) __builtin_memset(p, 0, hwm - (uintptr_t)p < bytes ? hwm - (uintptr_t)p : bytes);
  unlock();
  return p;
}

static void *alloc_locked(size_t bytes) {
  if (bytes > 0xF0000000u) return 0;
  uint32_t need = (uint32_t)((bytes + HDR - 1) & ~(size_t)(HDR - 1)) + HDR;
  if (need < 2 * HDR) need = 2 * HDR;
  blk *b = find(need);
  if (!b) {
    uint32_t tail = g_last && !g_last->used ? g_last->size : 0; /* grow() merges into a free last block */
    if (grow(need - tail)) b = find(need);
  }
  if (!b) return 0;
  bin_remove(b);
  b->used = 1;
  if (b->size - need >= 2 * HDR) { /* split off the tail */
    blk *r = (blk *)((uintptr_t)b + need);
    r->size = b->size - need;
    r->prev_size = need;
    r->used = 0;
    b->size = need;
    if (b == g_last) g_last = r;
    else after(r)->prev_size = r->size;
    bin_insert(r);
  }
  if ((uintptr_t)b + b->size > g_hwm) g_hwm = (uintptr_t)b + b->size;
  return (void *)((uintptr_t)b + HDR);
}

void bd_free(void *p) {
  if (!p) return;
  lock();
  blk *b = (blk *)((uintptr_t)p - HDR);
  if (b->used) release(b); /* ignore double frees rather than corrupting the bins */
  unlock();
}

/* Bytes held by live blocks and the heap's extent (for tests and diagnostics). */
EXPORT("bd_heap_stats") void bd_heap_stats(uint32_t *out) {
  lock();
  uint32_t used = 0, nblocks = 0;
  if (g_lo)
    for (blk *b = (blk *)g_lo;; b = after(b)) {
      nblocks++;
      if (b->used) used += b->size;
      if (b == g_last) break;
    }
  out[0] = used;
  out[1] = (uint32_t)(g_hi - g_lo);
  out[2] = nblocks;
  unlock();
}

/* clang may emit calls to these even in freestanding code; with bulk memory they are single instructions. */
void *memcpy(void *d, const void *s, size_t n) {
  __builtin_memcpy(d, s, n);
  return d;
}
void *memmove(void *d, const void *s, size_t n) {
  __builtin_memmove(d, s, n);
  return d;
}
void *memset(void *d, int c, size_t n) {
  __builtin_memset(d, c, n);
  return d;
}
