/* Scratch cache (scratch.h): NSLOTS slots, each claimed with an atomic exchange and grown on demand; when every
 * slot is in use (deeply nested callers) the caller gets a private buffer, freed on return. */
#include "scratch.h"
#include "../parallel.h"

#define NSLOTS 32
typedef struct {
  int busy;
  size_t cap; /* bytes */
  void *buf;
} scratch_slot;
static scratch_slot g_slots[NSLOTS];

void *bd_scratch_get(size_t bytes, int *slot) {
  for (int i = 0; i < NSLOTS; i++) {
    if (__atomic_load_n(&g_slots[i].busy, __ATOMIC_RELAXED)) continue;
    if (__atomic_exchange_n(&g_slots[i].busy, 1, __ATOMIC_ACQUIRE) == 0) {
      scratch_slot *s = &g_slots[i];
      if (s->cap < bytes) {
        if (s->buf) bd_free(s->buf);
        s->buf = bd_alloc(bytes);
        s->cap = s->buf ? bytes : 0;
      }
      if (!s->buf) {
        __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
        break;
      }
      *slot = i;
      return s->buf;
    }
  }
  *slot = -1;
  return bd_alloc(bytes);
}

void bd_scratch_put(void *buf, int slot) {
  if (slot < 0) {
    bd_free(buf);
    return;
  }
  __atomic_store_n(&g_slots[slot].busy, 0, __ATOMIC_RELEASE);
}
