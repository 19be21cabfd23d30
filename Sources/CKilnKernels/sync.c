#include "kiln_sync.h"
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <limits.h>

void kiln_park(uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void kiln_wake_all(uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void kiln_park_tagged(uint32_t *word, uint32_t expected, uint32_t tag) {
    syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, NULL, NULL, tag ? tag : 1u);
}

void kiln_wake_tagged(uint32_t *word, uint32_t tags) {
    if (tags) syscall(SYS_futex, word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, tags);
}
#else
#include <time.h>

// Portable fallback: poll with a short sleep. Only parked (idle) workers pay this latency.
void kiln_park(uint32_t *word, uint32_t expected) {
    struct timespec pause = {0, 50000};
    while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected) nanosleep(&pause, NULL);
}

void kiln_wake_all(uint32_t *word) { (void)word; }

void kiln_park_tagged(uint32_t *word, uint32_t expected, uint32_t tag) {
    (void)tag;
    kiln_park(word, expected);
}

void kiln_wake_tagged(uint32_t *word, uint32_t tags) { (void)word; (void)tags; }
#endif
