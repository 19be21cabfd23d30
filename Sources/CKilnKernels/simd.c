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
