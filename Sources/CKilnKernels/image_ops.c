// Element-wise kernels of the diffusion models: the unnormalized softmax of attention scores, the
// affine step of group normalization fused with SiLU, GEGLU and GELU-tanh.
#include "kiln_kernels.h"
#include "kiln_internal.h"
#include "kiln_exp.h"

float kiln_softmax_unnormalized_scalar(float *x, size_t n, float scale) {
    float m = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, x[i]);
    for (size_t i = 0; i < n; i++) { x[i] = kiln_expf(scale * (x[i] - m)); sum += x[i]; }
    return sum;
}

void kiln_affine_silu_scalar(const float *x, float *y, size_t n, float scale, float shift, int silu) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale + shift;
        y[i] = silu ? v / (1.0f + kiln_expf(-v)) : v;
    }
}

void kiln_geglu_scalar(const float *x, float *y, int rows, int width) {
    for (int r = 0; r < rows; r++) {
        const float *value = x + (size_t)r * 2 * width, *gate = value + width;
        float *out = y + (size_t)r * width;
        for (int i = 0; i < width; i++) out[i] = value[i] * 0.5f * gate[i] * (1.0f + erff(gate[i] * 0.70710678118654752f));
    }
}

void kiln_gelu_scalar(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void kiln_gelu_tanh_scalar(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        x[i] = v / (1.0f + kiln_expf(-2.0f * u));
    }
}

#ifdef KILN_X86
KILN_AVX2 static float softmax_unnormalized_avx2(float *x, size_t n, float scale) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m = kiln_hmax8(mv);
    for (; i < n; i++) m = fmaxf(m, x[i]);
    // exp(scale·x − scale·m) in one FMA per lane.
    const __m256 sv = _mm256_set1_ps(scale), shift = _mm256_set1_ps(-scale * m);
    __m256 total = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = kiln_exp8_nonpositive(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), sv, shift));
        _mm256_storeu_ps(x + i, e);
        total = _mm256_add_ps(total, e);
    }
    float sum = kiln_hsum8(total);
    for (; i < n; i++) { x[i] = kiln_expf(scale * (x[i] - m)); sum += x[i]; }
    return sum;
}

KILN_AVX2_INLINE __m256 silu8(__m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(v, _mm256_add_ps(one, kiln_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

KILN_AVX2 static void affine_silu_avx2(const float *x, float *y, size_t n, float scale, float shift, int silu) {
    const __m256 sv = _mm256_set1_ps(scale), hv = _mm256_set1_ps(shift);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), sv, hv);
        _mm256_storeu_ps(y + i, silu ? silu8(v) : v);
    }
    for (; i < n; i++) {
        float v = x[i] * scale + shift;
        y[i] = silu ? v / (1.0f + kiln_expf(-v)) : v;
    }
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), odd-extended.
KILN_AVX2_INLINE __m256 erf8(__m256 x) {
    const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), one));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = kiln_exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a));
    return _mm256_or_ps(sign, _mm256_fnmadd_ps(p, e, one));
}

KILN_AVX2 static void geglu_avx2(const float *x, float *y, int rows, int width) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), root = _mm256_set1_ps(0.70710678118654752f);
    for (int r = 0; r < rows; r++) {
        const float *value = x + (size_t)r * 2 * width, *gate = value + width;
        float *out = y + (size_t)r * width;
        int i = 0;
        for (; i + 8 <= width; i += 8) {
            __m256 g = _mm256_loadu_ps(gate + i);
            __m256 gelu = _mm256_mul_ps(_mm256_mul_ps(half, g), _mm256_add_ps(one, erf8(_mm256_mul_ps(g, root))));
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(value + i), gelu));
        }
        for (; i < width; i++) out[i] = value[i] * 0.5f * gate[i] * (1.0f + erff(gate[i] * 0.70710678118654752f));
    }
}

KILN_AVX2 static void gelu_avx2(float *x, size_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), root = _mm256_set1_ps(0.70710678118654752f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf8(_mm256_mul_ps(v, root)))));
    }
    kiln_gelu_scalar(x + i, n - i);
}

KILN_AVX2 static void gelu_tanh_avx2(float *x, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), root = _mm256_set1_ps(0.7978845608028654f), cubic = _mm256_set1_ps(0.044715f);
    const __m256 minus_two = _mm256_set1_ps(-2.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_mul_ps(root, _mm256_fmadd_ps(_mm256_mul_ps(cubic, v), _mm256_mul_ps(v, v), v));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, kiln_exp8(_mm256_mul_ps(minus_two, u)))));
    }
    kiln_gelu_tanh_scalar(x + i, n - i);
}
#endif

float kiln_softmax_unnormalized(float *x, size_t n, float scale) {
#ifdef KILN_X86
    if (kiln_simd_active()) return softmax_unnormalized_avx2(x, n, scale);
#endif
    return kiln_softmax_unnormalized_scalar(x, n, scale);
}

void kiln_affine_silu(const float *x, float *y, size_t n, float scale, float shift, int silu) {
#ifdef KILN_X86
    if (kiln_simd_active()) { affine_silu_avx2(x, y, n, scale, shift, silu); return; }
#endif
    kiln_affine_silu_scalar(x, y, n, scale, shift, silu);
}

void kiln_geglu(const float *x, float *y, int rows, int width) {
#ifdef KILN_X86
    if (kiln_simd_active()) { geglu_avx2(x, y, rows, width); return; }
#endif
    kiln_geglu_scalar(x, y, rows, width);
}

void kiln_gelu(float *x, size_t n) {
#ifdef KILN_X86
    if (kiln_simd_active()) { gelu_avx2(x, n); return; }
#endif
    kiln_gelu_scalar(x, n);
}

void kiln_gelu_tanh(float *x, size_t n) {
#ifdef KILN_X86
    if (kiln_simd_active()) { gelu_tanh_avx2(x, n); return; }
#endif
    kiln_gelu_tanh_scalar(x, n);
}
