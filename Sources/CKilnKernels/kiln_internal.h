#ifndef KILN_INTERNAL_H
#define KILN_INTERNAL_H
// Shared helpers of the kernel bodies (not part of the Swift-visible API).
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define KILN_X86 1
#include <immintrin.h>
#define KILN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KILN_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))
/// AVX-512 F/BW/DQ/VL with VNNI (and AVX2): bodies taken where kiln_avx512_active().
#define KILN_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define KILN_AVX512_INLINE \
    static inline __attribute__((always_inline, target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

/// The sum and the maximum of a vector's eight lanes, always in the same order (halves, then
/// pairs, then the last two), which the llama.cpp-exact text kernels' results depend on.
KILN_AVX2_INLINE float kiln_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

KILN_AVX2_INLINE float kiln_hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/// Eight consecutive 3×3 half kernels (72 values at `source`) widened with F16C and turned side
/// by side into the lanes: g[e] holds element e of each kernel, so a Winograd weight transform of
/// eight input channels ends in contiguous 8-wide stores.
KILN_AVX2_INLINE void kiln_load_kernels3x3_f16x8(const uint16_t *source, __m256 g[9]) {
    float values[72] __attribute__((aligned(32)));
    for (int block = 0; block < 9; block++)
        _mm256_store_ps(values + 8 * block, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(source + 8 * block))));
    for (int e = 0; e < 9; e++)
        g[e] = _mm256_setr_ps(values[e], values[9 + e], values[18 + e], values[27 + e],
                              values[36 + e], values[45 + e], values[54 + e], values[63 + e]);
}
#endif

#define KILN_INLINE static inline __attribute__((always_inline))

/// Per-thread scratch slots (scratch.c), one per kind of prepared input.
enum { KILN_SCRATCH_BIASED_Q8 = 0, KILN_SCRATCH_Q8K_COLUMNS = 1, KILN_SCRATCH_SLOTS = 2 };

/// This thread's buffer for `slot`, 64-byte aligned, at least `bytes` long: grown (never shrunk)
/// when a call needs more, freed when the thread exits. Null if memory ran out.
void *kiln_thread_scratch(int slot, size_t bytes);

int kiln_simd_active(void);

/// Exact IEEE half → float, portable.
KILN_INLINE float kiln_half_to_float_value(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalize.
        int shift = 0;
        while ((mantissa & 0x400) == 0) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

KILN_INLINE uint16_t kiln_load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
KILN_INLINE uint32_t kiln_load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
KILN_INLINE float kiln_load_half(const uint8_t *p) { return kiln_half_to_float_value(kiln_load_u16(p)); }

/// Element `index` of a weight array of KILN_TYPE_F16, KILN_TYPE_BF16 or (otherwise) f32, as float.
KILN_INLINE float kiln_weight_value(int type, const void *base, size_t index, int f16_type, int bf16_type) {
    const uint8_t *bytes = (const uint8_t *)base;
    if (type == f16_type) return kiln_load_half(bytes + 2 * index);
    float value;
    if (type == bf16_type) {
        uint32_t bits = (uint32_t)kiln_load_u16(bytes + 2 * index) << 16;
        memcpy(&value, &bits, 4);
        return value;
    }
    memcpy(&value, bytes + 4 * index, 4);
    return value;
}

#endif
