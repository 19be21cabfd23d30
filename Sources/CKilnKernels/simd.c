#include "kiln_kernels.h"
#include "kiln_internal.h"

static int simd_state = -1;

int kiln_simd_active(void) {
    int state = __atomic_load_n(&simd_state, __ATOMIC_RELAXED);
    if (state < 0) {
        state = kiln_cpu_has_avx2();
        __atomic_store_n(&simd_state, state, __ATOMIC_RELAXED);
    }
    return state;
}

static int avx512_state = -1;

int kiln_avx512_active(void) {
    int state = __atomic_load_n(&avx512_state, __ATOMIC_RELAXED);
    if (state < 0) {
        state = kiln_cpu_has_avx512_vnni();
        __atomic_store_n(&avx512_state, state, __ATOMIC_RELAXED);
    }
    return state;
}

void kiln_set_avx512_enabled(int enabled) {
    __atomic_store_n(&avx512_state, enabled ? kiln_cpu_has_avx512_vnni() : 0, __ATOMIC_RELAXED);
}
