#ifndef KILN_KERNELS_H
#define KILN_KERNELS_H
// Narrow SIMD loops over raw pointers. No allocation, no I/O.
// Each entry point dispatches at run time to an AVX2/FMA body where the CPU has it,
// and to a portable scalar body elsewhere.
#include <stddef.h>
#include <stdint.h>

/// 1 when the running CPU has AVX2, FMA and F16C, else 0.
int kiln_cpu_has_avx2(void);

#endif
