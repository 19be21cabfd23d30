#ifndef KILN_EXP_H
#define KILN_EXP_H
// The exponential the kernels share, in a scalar and an 8-lane form computing the same thing:
// exp(x) = 2^n · p(r), n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in two for exactness),
// p a degree-7 polynomial (Cephes expf coefficients); relative error below 2e-7 on the range
// used. Inputs below −87.3 (including −inf) give 0, above 88.37 give +inf (2^n must stay finite;
// exp(88.37) ≈ 2.5e38 is within 30% of the largest float).
#include "kiln_internal.h"
#include <math.h>

#define KILN_EXP_HIGH 88.37f
#define KILN_EXP_LOW -87.3f

KILN_INLINE float kiln_expf(float x) {
    if (x < KILN_EXP_LOW) return 0.0f;
    if (x > KILN_EXP_HIGH) return INFINITY;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

// The exponential of SiLU/SwiGLU, in a scalar and an 8-lane form computing the same thing: the
// range reduction and polynomial of ggml's vector expf, operation for operation, so that the
// feed-forward gate rounds as llama.cpp's does (its max error is about 1.5 ulp). It stays apart
// from kiln_expf on purpose: the llama.cpp reference tests (KilnTextTests' ModelReferenceTests)
// need the gate to round as llama.cpp's does, which kiln_expf's Cephes polynomial does not, while
// the softmax and attention kernels keep kiln_expf's range handling (0 below −87.3).
// exp(x) = 2^n · (1 + j): n = x·log2(e) rounded by adding 1.5·2^23 (z keeps n in its low bits),
// b = x − n·ln 2 (ln 2 in two parts), j a degree-5 polynomial in b. For |n| > 126 the power of two
// is split into two factors so that it neither overflows nor flushes early; |n| > 192 saturates.
#define KILN_SILU_EXP_SHIFT 0x1.8p23f
#define KILN_SILU_EXP_LOG2E 0x1.715476p+0f
#define KILN_SILU_EXP_LN2_HIGH 0x1.62e4p-1f
#define KILN_SILU_EXP_LN2_LOW 0x1.7f7d1cp-20f
#define KILN_SILU_EXP_C1 0x1.ffffecp-1f
#define KILN_SILU_EXP_C2 0x1.fffdb6p-2f
#define KILN_SILU_EXP_C3 0x1.555e66p-3f
#define KILN_SILU_EXP_C4 0x1.573e2ep-5f
#define KILN_SILU_EXP_C5 0x1.0e4020p-7f

KILN_INLINE float kiln_bits_to_float(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }

KILN_INLINE float kiln_silu_expf(float x) {
    const float z = fmaf(x, KILN_SILU_EXP_LOG2E, KILN_SILU_EXP_SHIFT);
    const float n = z - KILN_SILU_EXP_SHIFT;
    const float b = fmaf(-n, KILN_SILU_EXP_LN2_LOW, fmaf(-n, KILN_SILU_EXP_LN2_HIGH, x));
    uint32_t zbits;
    memcpy(&zbits, &z, 4);
    const uint32_t e = zbits << 23;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(KILN_SILU_EXP_C5, b, KILN_SILU_EXP_C4), u, fmaf(KILN_SILU_EXP_C3, b, KILN_SILU_EXP_C2)),
                         u, KILN_SILU_EXP_C1 * b);
    if (!(fabsf(n) > 126)) {
        const float k = kiln_bits_to_float(e + 0x3F800000u);
        return fmaf(j, k, k);
    }
    const uint32_t g = n <= 0 ? 0x82000000u : 0;
    const float s1 = kiln_bits_to_float(g + 0x7F000000u), s2 = kiln_bits_to_float(e - g);
    if (fabsf(n) > 192) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

#ifdef KILN_X86
KILN_AVX2_INLINE __m256 kiln_silu_exp8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(KILN_SILU_EXP_SHIFT);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(KILN_SILU_EXP_LOG2E), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(KILN_SILU_EXP_LN2_LOW),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(KILN_SILU_EXP_LN2_HIGH), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(0x3F800000)));
    const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 large = _mm256_cmp_ps(magnitude, _mm256_set1_ps(126), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(KILN_SILU_EXP_C5), b, _mm256_set1_ps(KILN_SILU_EXP_C4)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(KILN_SILU_EXP_C3), b, _mm256_set1_ps(KILN_SILU_EXP_C2))),
        u, _mm256_mul_ps(_mm256_set1_ps(KILN_SILU_EXP_C1), b));
    const __m256 normal = _mm256_fmadd_ps(j, k, k);
    if (!_mm256_movemask_ps(large)) return normal;
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7F000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 saturated = _mm256_cmp_ps(magnitude, _mm256_set1_ps(192), _CMP_GT_OQ);
    const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    const __m256 wide = _mm256_blendv_ps(normal, scaled, large);
    return _mm256_blendv_ps(wide, _mm256_mul_ps(s1, s1), saturated);
}

/// e^(x − n·ln 2) for |x − n·ln 2| ≤ ln 2 / 2: ln 2 split in two for the reduction, then the
/// degree-7 polynomial both exponentials below share.
KILN_AVX2_INLINE __m256 kiln_exp8_reduced(__m256 x, __m256 n) {
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    return _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
}

KILN_AVX2_INLINE __m256 kiln_exp8(__m256 x) {
    const __m256 high = _mm256_set1_ps(KILN_EXP_HIGH), low = _mm256_set1_ps(KILN_EXP_LOW);
    __m256 tooLow = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    __m256 tooHigh = _mm256_cmp_ps(x, high, _CMP_GT_OQ);
    __m256 clamped = _mm256_min_ps(_mm256_max_ps(x, low), high);
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(clamped, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 p = kiln_exp8_reduced(clamped, n);
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    result = _mm256_andnot_ps(tooLow, result);
    return _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), tooHigh);
}

/// exp(x) for x ≤ 0 (−inf included), the softmax case: the same polynomial as kiln_exp8 without
/// its range checks, with n rounded by the 1.5·2²³ trick (so 2ⁿ comes from t's low bits, no
/// conversions). Inputs below −87.3 are raised to it, giving ~1e-38 instead of 0; results are
/// within 2e-7 relative of exp elsewhere.
KILN_AVX2_INLINE __m256 kiln_exp8_nonpositive(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    x = _mm256_max_ps(x, _mm256_set1_ps(KILN_EXP_LOW));
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
    const __m256 n = _mm256_sub_ps(t, magic);
    __m256 p = kiln_exp8_reduced(x, n);
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}
#endif
#endif
