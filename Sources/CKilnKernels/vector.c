// Element-wise kernels: RMSNorm, residual add, SiLU/SwiGLU, softmax, RoPE, half conversion.
#include "kiln_kernels.h"
#include "kiln_exp.h"
#include <math.h>

// ---------------------------------------------------------------- portable bodies

/// 1 / sqrt(mean(x²) + eps) rounded as ggml's rms_norm rounds it: each square rounded to float,
/// the squares summed in double in index order, the mean rounded to float, then float sqrt and
/// division. (Products in double, or sums in another order, move the scale by an ulp now and
/// then, and an ulp is enough to flip some 8-bit activation roundings downstream.)
static float rms_scale(const float *row, int n, float eps) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float square = row[i] * row[i];
        sum += (double)square;
    }
    const float mean = (float)(sum / n);
    return 1.0f / sqrtf(mean + eps);
}

void kiln_rms_norm_scalar(const float *x, const float *w, int n, int rows, float eps, float *out) {
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * n;
        float *o = out + (size_t)r * n;
        float scale = rms_scale(row, n, eps);
        for (int i = 0; i < n; i++) o[i] = w ? row[i] * scale * w[i] : row[i] * scale;
    }
}

void kiln_add_scalar(const float *a, const float *b, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void kiln_swiglu_scalar(const float *gate, const float *up, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + kiln_silu_expf(0.0f - gate[i])) * up[i];
}

void kiln_silu_scalar(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + kiln_silu_expf(0.0f - x[i]));
}

void kiln_exp_scalar(const float *x, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = kiln_expf(x[i]);
}

void kiln_softmax_scalar(float *x, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, x[i]);
    float sum = 0;
    for (size_t i = 0; i < n; i++) { x[i] = kiln_expf(x[i] - m); sum += x[i]; }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

// Each rotated element is a·c ∓ b·s with the first product fused: how GCC contracts ggml's
// `x0*cos_theta - x1*sin_theta` and `x0*sin_theta + x1*cos_theta`.
void kiln_rope_scalar(float *x, int heads, int head_dim, int dims, const float *cos, const float *sin, int neox) {
    int half = dims / 2;
    for (int h = 0; h < heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            int p = neox ? i : 2 * i, q = neox ? i + half : 2 * i + 1;
            float a = v[p], b = v[q];
            v[p] = fmaf(a, cos[i], -(b * sin[i]));
            v[q] = fmaf(a, sin[i], b * cos[i]);
        }
    }
}

// ---------------------------------------------------------------- AVX2 bodies
#ifdef KILN_X86
KILN_AVX2 static void rms_norm_avx2(const float *x, const float *w, int n, int rows, float eps, float *out) {
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * n;
        float *o = out + (size_t)r * n;
        const float scale = rms_scale(row, n, eps);
        int i;
        __m256 sv = _mm256_set1_ps(scale);
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(row + i), sv);
            if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
            _mm256_storeu_ps(o + i, v);
        }
        for (; i < n; i++) o[i] = w ? row[i] * scale * w[i] : row[i] * scale;
    }
}

KILN_AVX2 static void add_avx2(const float *a, const float *b, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) out[i] = a[i] + b[i];
}

KILN_AVX2_INLINE __m256 silu8(__m256 g) {
    __m256 e = kiln_silu_exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

KILN_AVX2 static void swiglu_avx2(const float *gate, const float *up, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    for (; i < n; i++) out[i] = gate[i] / (1.0f + kiln_silu_expf(0.0f - gate[i])) * up[i];
}

KILN_AVX2 static void silu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, silu8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = x[i] / (1.0f + kiln_silu_expf(0.0f - x[i]));
}

KILN_AVX2 static void exp_avx2(const float *x, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, kiln_exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) out[i] = kiln_expf(x[i]);
}

KILN_AVX2 static void softmax_avx2(float *x, size_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m = kiln_hmax8(mv);
    for (; i < n; i++) m = fmaxf(m, x[i]);
    __m256 sv = _mm256_setzero_ps();
    const __m256 mb = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = kiln_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float sum = kiln_hsum8(sv);
    for (; i < n; i++) { x[i] = kiln_expf(x[i] - m); sum += x[i]; }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}

KILN_AVX2 static void rope_avx2(float *x, int heads, int head_dim, int dims, const float *cos, const float *sin, int neox) {
    int half = dims / 2;
    for (int h = 0; h < heads; h++) {
        float *v = x + (size_t)h * head_dim;
        int i = 0;
        if (neox) {
            for (; i + 8 <= half; i += 8) {
                __m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
                __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
                _mm256_storeu_ps(v + i, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, s)));
                _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(a, s, _mm256_mul_ps(b, c)));
            }
        } else {
            // Pairs are adjacent: 4 pairs per 8 floats; duplicate each angle into both lanes of its pair.
            for (; i + 4 <= half; i += 4) {
                __m256 pairs = _mm256_loadu_ps(v + 2 * i);
                __m128 c4 = _mm_loadu_ps(cos + i), s4 = _mm_loadu_ps(sin + i);
                __m256 c = _mm256_set_m128(_mm_unpackhi_ps(c4, c4), _mm_unpacklo_ps(c4, c4));
                __m256 s = _mm256_set_m128(_mm_unpackhi_ps(s4, s4), _mm_unpacklo_ps(s4, s4));
                // (a, a) and (b, b) per pair; first: fma(a, c, −b·s); second: fma(a, s, b·c).
                __m256 firsts = _mm256_moveldup_ps(pairs), seconds = _mm256_movehdup_ps(pairs);
                __m256 cs = _mm256_blend_ps(c, s, 0xAA), sc = _mm256_blend_ps(s, c, 0xAA);
                __m256 rotated = _mm256_fmaddsub_ps(firsts, cs, _mm256_mul_ps(seconds, sc));
                _mm256_storeu_ps(v + 2 * i, rotated);
            }
        }
        for (; i < half; i++) {
            int p = neox ? i : 2 * i, q = neox ? i + half : 2 * i + 1;
            float a = v[p], b = v[q];
            v[p] = fmaf(a, cos[i], -(b * sin[i]));
            v[q] = fmaf(a, sin[i], b * cos[i]);
        }
    }
}

KILN_AVX2 static void float_to_half_avx2(const float *x, size_t n, uint16_t *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

KILN_AVX2 static void half_to_float_avx2(const uint16_t *x, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) out[i] = _cvtsh_ss(x[i]);
}
#define KILN_DISPATCH(avx2_call, scalar_call) do { if (kiln_simd_active()) { avx2_call; return; } scalar_call; } while (0)
#else
#define KILN_DISPATCH(avx2_call, scalar_call) do { scalar_call; } while (0)
#endif

void kiln_rms_norm(const float *x, const float *w, int n, int rows, float eps, float *out) {
    KILN_DISPATCH(rms_norm_avx2(x, w, n, rows, eps, out), kiln_rms_norm_scalar(x, w, n, rows, eps, out));
}
void kiln_add(const float *a, const float *b, size_t n, float *out) {
    KILN_DISPATCH(add_avx2(a, b, n, out), kiln_add_scalar(a, b, n, out));
}
void kiln_swiglu(const float *gate, const float *up, size_t n, float *out) {
    KILN_DISPATCH(swiglu_avx2(gate, up, n, out), kiln_swiglu_scalar(gate, up, n, out));
}
void kiln_silu(float *x, size_t n) { KILN_DISPATCH(silu_avx2(x, n), kiln_silu_scalar(x, n)); }
void kiln_exp(const float *x, size_t n, float *out) { KILN_DISPATCH(exp_avx2(x, n, out), kiln_exp_scalar(x, n, out)); }
void kiln_softmax(float *x, size_t n) { KILN_DISPATCH(softmax_avx2(x, n), kiln_softmax_scalar(x, n)); }
void kiln_rope(float *x, int heads, int head_dim, int dims, const float *cos, const float *sin, int neox) {
    KILN_DISPATCH(rope_avx2(x, heads, head_dim, dims, cos, sin, neox),
                  kiln_rope_scalar(x, heads, head_dim, dims, cos, sin, neox));
}

// Portable half conversion: round to nearest even through the bit patterns.
static uint16_t float_to_half_scalar(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t magnitude = x & 0x7FFFFFFF;
    if (magnitude > 0x7F800000) return (uint16_t)(sign | 0x7E00);          // NaN
    if (magnitude >= 0x477FF000) return (uint16_t)(sign | 0x7C00);         // overflow → inf
    if (magnitude < 0x38800000) {                                          // subnormal half or zero
        if (magnitude < 0x33000000) return (uint16_t)sign;
        uint32_t mantissa = (magnitude & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)(magnitude >> 23);  // x / 2^-24 = mantissa / 2^shift, shift in 14...24
        uint32_t value = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (value & 1))) value++;
        return (uint16_t)(sign | value);
    }
    uint32_t value = ((magnitude >> 13) - (112u << 10));
    uint32_t rest = magnitude & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (value & 1))) value++;
    return (uint16_t)(sign | value);
}

void kiln_float_to_half(const float *x, size_t n, uint16_t *out) {
#ifdef KILN_X86
    if (kiln_simd_active()) { float_to_half_avx2(x, n, out); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = float_to_half_scalar(x[i]);
}

void kiln_half_to_float(const uint16_t *x, size_t n, float *out) {
#ifdef KILN_X86
    if (kiln_simd_active()) { half_to_float_avx2(x, n, out); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = kiln_half_to_float_value(x[i]);
}
