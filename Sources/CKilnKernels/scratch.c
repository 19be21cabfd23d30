// Per-thread scratch memory for kernel bodies that prepare their inputs once per call (the AVX-512
// integer products' biased activations, Q4_K's sideways activation blocks). Each thread keeps one
// buffer per slot, grown to the largest request it has seen and freed when the thread exits, so a
// kernel running in a hot loop allocates only on its first calls.
#include "kiln_internal.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t scratch_keys[KILN_SCRATCH_SLOTS];
static pthread_once_t scratch_keys_once = PTHREAD_ONCE_INIT;

static void make_scratch_keys(void) {
    for (int slot = 0; slot < KILN_SCRATCH_SLOTS; slot++) pthread_key_create(&scratch_keys[slot], free);
}

void *kiln_thread_scratch(int slot, size_t bytes) {
    static _Thread_local void *buffers[KILN_SCRATCH_SLOTS];
    static _Thread_local size_t capacities[KILN_SCRATCH_SLOTS];
    if (slot < 0 || slot >= KILN_SCRATCH_SLOTS) return 0;
    if (bytes > capacities[slot]) {
        pthread_once(&scratch_keys_once, make_scratch_keys);
        free(buffers[slot]);
        const size_t capacity = (bytes + 4095) & ~(size_t)4095;
        buffers[slot] = aligned_alloc(64, capacity);
        capacities[slot] = buffers[slot] ? capacity : 0;
        pthread_setspecific(scratch_keys[slot], buffers[slot]);
    }
    return buffers[slot];
}
