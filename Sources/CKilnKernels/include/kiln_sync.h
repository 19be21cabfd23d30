#ifndef KILN_SYNC_H
#define KILN_SYNC_H
// Atomics and a park/wake primitive for KilnTensor's WorkerPool. Swift calls these on plain integers
// it owns (allocated, never moved); every access from more than one thread goes through them.
#include <stdint.h>

static inline long kiln_atomic_load(const long *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void kiln_atomic_store(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
/// Adds `v` and returns the value before the addition.
static inline long kiln_atomic_fetch_add(long *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

/// Stores `desired` if `*p == expected`; returns 1 when it did.
static inline int kiln_atomic_compare_exchange(long *p, long expected, long desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
/// ORs `v` in and returns the value before.
static inline long kiln_atomic_fetch_or(long *p, long v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }

static inline uint32_t kiln_atomic_load32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline uint32_t kiln_atomic_fetch_add32(uint32_t *p, uint32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

/// A CPU hint for spin-wait loops (x86 `pause`).
static inline void kiln_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Blocks while `*word == expected` (Linux futex; elsewhere a short sleep). May return spuriously.
void kiln_park(uint32_t *word, uint32_t expected);
/// Wakes every thread parked on `word`.
void kiln_wake_all(uint32_t *word);
/// `kiln_park` for a thread that only some wake-ups concern: it carries `tag` (a bit set, 0 taken
/// as 1) and `kiln_wake_tagged` wakes it only when their bits meet (Linux futex bit sets; elsewhere
/// the same short-sleep poll as `kiln_park`, which needs no wake).
void kiln_park_tagged(uint32_t *word, uint32_t expected, uint32_t tag);
/// Wakes the threads parked on `word` whose tag shares a bit with `tags` (none when `tags` is 0).
/// Threads parked with plain `kiln_park` match every tag.
void kiln_wake_tagged(uint32_t *word, uint32_t tags);

#endif
