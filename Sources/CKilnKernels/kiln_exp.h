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

#ifdef KILN_X86
KILN_AVX2_INLINE __m256 kiln_exp8(__m256 x) {
    const __m256 high = _mm256_set1_ps(KILN_EXP_HIGH), low = _mm256_set1_ps(KILN_EXP_LOW);
    __m256 tooLow = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    __m256 tooHigh = _mm256_cmp_ps(x, high, _CMP_GT_OQ);
    __m256 clamped = _mm256_min_ps(_mm256_max_ps(x, low), high);
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(clamped, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), clamped);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
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
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}
#endif
#endif
