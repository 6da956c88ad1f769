/* Portable runtime services used by the kernels. Two implementations:
 * native/runtime_posix.c (pthreads + malloc, Node addon) and native/wasm/runtime_wasm.c (wasm atomics). */
#ifndef BD_PARALLEL_H
#define BD_PARALLEL_H
#include <stddef.h>

/* Work item: process indices [begin, end). tid is 0..bd_num_threads()-1 (for per-thread scratch). */
typedef void (*bd_range_fn)(void *ctx, int begin, int end, int tid);

/* Split [0, n) into contiguous chunks of at least `grain` items and run them on the pool; returns when all finished.
 * Nested calls from inside a work item run serially on the calling thread. */
void bd_parallel_for(int n, int grain, bd_range_fn fn, void *ctx);

/* Number of threads the pool runs work on (>= 1), including the caller. */
int bd_num_threads(void);

/* Heap for scratch space (packing buffers). 64-byte aligned. */
void *bd_alloc(size_t bytes);
void bd_free(void *p);

#endif
