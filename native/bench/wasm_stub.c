/* Single-threaded stand-in for native/wasm/runtime_wasm.c, for the sgemm harness only. */
#include "../parallel.h"
#include <stdint.h>

extern unsigned char __heap_base;
static uintptr_t g_top = 0;

void bd_parallel_for(int n, int grain, bd_range_fn fn, void *ctx) {
  (void)grain;
  if (n > 0) fn(ctx, 0, n, 0);
}
int bd_num_threads(void) { return 1; }

/* bump allocator; bd_free releases only the most recent block (enough for the harness) */
static uintptr_t g_last = 0;
void *bd_alloc(size_t bytes) {
  if (!g_top) g_top = ((uintptr_t)&__heap_base + 63) & ~(uintptr_t)63;
  uintptr_t p = g_top, end = (p + bytes + 63) & ~(uintptr_t)63;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1) return 0;
  g_last = p;
  g_top = end;
  return (void *)p;
}
void bd_free(void *p) {
  if ((uintptr_t)p == g_last) g_top = g_last, g_last = 0;
}
