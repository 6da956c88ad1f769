/* Scratch buffers reused across kernel calls: a small lock-free cache of bd_alloc'ed slots (safe under nested
 * parallel_for and concurrent callers). A fresh large allocation per call would cost page faults every time
 * (mmap'd, zeroed by the kernel), which dominate kernels that only stream a few hundred KB through it. */
#ifndef BD_SCRATCH_H
#define BD_SCRATCH_H
#include <stddef.h>

/* A buffer of >= bytes (64-byte aligned), or NULL when out of memory; *slot says where to return it. */
void *bd_scratch_get(size_t bytes, int *slot);
void bd_scratch_put(void *buf, int slot);

#endif
