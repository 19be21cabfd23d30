// Online-softmax attention of one query head over a span of cache positions.
//
// Scores are computed for up to 64 positions at a time into a stack buffer, then the running
// maximum, sum and value accumulator are rescaled once per chunk (not once per position).
#include "kiln_kernels.h"
#include "kiln_exp.h"
#include <math.h>

#define CHUNK 64

void kiln_attention_begin(float *state, int dim) {
    state[0] = -INFINITY;
    state[1] = 0;
    for (int i = 0; i < dim; i++) state[2 + i] = 0;
}

void kiln_attention_finish(const float *state, int dim, float *out) {
    float inv = state[1] > 0 ? 1.0f / state[1] : 0.0f;
    for (int i = 0; i < dim; i++) out[i] = state[2 + i] * inv;
}

KILN_INLINE float element(const void *base, size_t index, int f16) {
    return f16 ? kiln_half_to_float_value(((const uint16_t *)base)[index]) : ((const float *)base)[index];
}

void kiln_attention_span_scalar(const float *q, const void *keys, const void *values, size_t stride, int count,
                                int dim, float scale, int f16, float *state) {
    float scores[CHUNK];
    float *acc = state + 2;
    for (int start = 0; start < count; start += CHUNK) {
        int n = count - start < CHUNK ? count - start : CHUNK;
        float chunk_max = -INFINITY;
        for (int t = 0; t < n; t++) {
            float dot = 0;
            for (int i = 0; i < dim; i++) dot += q[i] * element(keys, (size_t)(start + t) * stride + i, f16);
            scores[t] = dot * scale;
            chunk_max = fmaxf(chunk_max, scores[t]);
        }
        float new_max = fmaxf(state[0], chunk_max);
        float correction = kiln_expf(state[0] - new_max);
        state[1] *= correction;
        for (int i = 0; i < dim; i++) acc[i] *= correction;
        for (int t = 0; t < n; t++) {
            float p = kiln_expf(scores[t] - new_max);
            state[1] += p;
            for (int i = 0; i < dim; i++) acc[i] += p * element(values, (size_t)(start + t) * stride + i, f16);
        }
        state[0] = new_max;
    }
}

#ifdef KILN_X86
KILN_AVX2_INLINE __m256 load8(const void *base, size_t index, const int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + index)));
    return _mm256_loadu_ps((const float *)base + index);
}

/// dim a multiple of 8, at most 256 (checked by the caller).
KILN_AVX2_INLINE void span_avx2(const float *q, const void *keys, const void *values, size_t stride, int count,
                                int dim, float scale, const int f16, float *state) {
    float scores[CHUNK];
    float *acc = state + 2;
    const int lanes = dim / 8;
    for (int start = 0; start < count; start += CHUNK) {
        int n = count - start < CHUNK ? count - start : CHUNK;
        // Scores eight keys at a time: eight dot-product vectors reduced together by a tree of
        // horizontal adds (9 operations instead of a horizontal sum per key).
        const __m256 sv = _mm256_set1_ps(scale);
        __m256 maxima = _mm256_set1_ps(-INFINITY);
        int t = 0;
        for (; t + 8 <= n; t += 8) {
            __m256 d[8];
            for (int k = 0; k < 8; k++) {
                size_t base = (size_t)(start + t + k) * stride;
                d[k] = _mm256_mul_ps(_mm256_loadu_ps(q), load8(keys, base, f16));
                for (int l = 1; l < lanes; l++) d[k] = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * l), load8(keys, base + 8 * l, f16), d[k]);
            }
            __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(d[0], d[1]), _mm256_hadd_ps(d[2], d[3]));
            __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(d[4], d[5]), _mm256_hadd_ps(d[6], d[7]));
            __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
            sums = _mm256_mul_ps(sums, sv);
            _mm256_storeu_ps(scores + t, sums);
            maxima = _mm256_max_ps(maxima, sums);
        }
        float chunk_max = kiln_hmax8(maxima);
        for (; t < n; t++) {
            size_t base = (size_t)(start + t) * stride;
            __m256 d0 = _mm256_mul_ps(_mm256_loadu_ps(q), load8(keys, base, f16));
            for (int l = 1; l < lanes; l++) d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * l), load8(keys, base + 8 * l, f16), d0);
            scores[t] = kiln_hsum8(d0) * scale;
            chunk_max = fmaxf(chunk_max, scores[t]);
        }
        float new_max = fmaxf(state[0], chunk_max);
        float correction = kiln_expf(state[0] - new_max);
        state[1] *= correction;
        // Exponentials of the chunk's scores, 8 at a time.
        t = 0;
        __m256 sum = _mm256_setzero_ps();
        const __m256 mb = _mm256_set1_ps(new_max);
        for (; t + 8 <= n; t += 8) {
            __m256 e = kiln_exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + t), mb));
            _mm256_storeu_ps(scores + t, e);
            sum = _mm256_add_ps(sum, e);
        }
        float total = kiln_hsum8(sum);
        for (; t < n; t++) { scores[t] = kiln_expf(scores[t] - new_max); total += scores[t]; }
        state[1] += total;
        // acc = acc · correction + Σ p_t · v_t, the accumulator held in registers (dim ≤ 256).
        __m256 a[32];
        const __m256 cv = _mm256_set1_ps(correction);
        for (int l = 0; l < lanes; l++) a[l] = _mm256_mul_ps(_mm256_loadu_ps(acc + 8 * l), cv);
        for (t = 0; t < n; t++) {
            const __m256 p = _mm256_set1_ps(scores[t]);
            size_t base = (size_t)(start + t) * stride;
            for (int l = 0; l < lanes; l++) a[l] = _mm256_fmadd_ps(p, load8(values, base + 8 * l, f16), a[l]);
        }
        for (int l = 0; l < lanes; l++) _mm256_storeu_ps(acc + 8 * l, a[l]);
        state[0] = new_max;
    }
}

// Common head sizes get bodies with the dimension fixed, so the accumulator lives in registers.
#define KILN_SPAN_BODY(F16)                                                                          \
    switch (dim) {                                                                                   \
    case 64: span_avx2(q, k, v, stride, count, 64, scale, F16, state); break;                        \
    case 128: span_avx2(q, k, v, stride, count, 128, scale, F16, state); break;                      \
    default: span_avx2(q, k, v, stride, count, dim, scale, F16, state); break;                       \
    }
KILN_AVX2 static void span_f32_avx2(const float *q, const void *k, const void *v, size_t stride, int count, int dim,
                                    float scale, float *state) {
    KILN_SPAN_BODY(0)
}
KILN_AVX2 static void span_f16_avx2(const float *q, const void *k, const void *v, size_t stride, int count, int dim,
                                    float scale, float *state) {
    KILN_SPAN_BODY(1)
}
#endif

void kiln_attention_span(const float *q, const void *keys, const void *values, size_t stride, int count,
                         int dim, float scale, int f16, float *state) {
    if (count <= 0) return;
#ifdef KILN_X86
    if (kiln_simd_active() && dim % 8 == 0 && dim <= 256) {
        if (f16) span_f16_avx2(q, keys, values, stride, count, dim, scale, state);
        else span_f32_avx2(q, keys, values, stride, count, dim, scale, state);
        return;
    }
#endif
    kiln_attention_span_scalar(q, keys, values, stride, count, dim, scale, f16, state);
}

// ---------------------------------------------------------------- half accumulator (llama.cpp's arithmetic)
//
// The query rounded to halves; each score q·k formed as ggml_vec_dot_f16 forms it (four 8-lane
// fused accumulators over chunks of 32 elements, reduced pairwise, then two horizontal adds, and
// the elements past the last whole chunk added in double); one key at a time, the running maximum
// M, the sum S = fma(S, ms, vs) and the accumulator, which is kept in halves and rounded after
// every key: on a new maximum acc = half(acc · expf(M_old − M)), then acc = half(fma(v, vs, acc)).
// expf is libm's. Same state layout as kiln_attention_span; acc holds half values.

KILN_INLINE float round_half(float x) {
    uint16_t h;
    kiln_float_to_half(&x, 1, &h);
    return kiln_half_to_float_value(h);
}

/// One online-softmax step for the key with score s: updates M and S, rescales acc on a new
/// maximum, and returns the key's weight vs = expf(s − M).
KILN_INLINE float half_softmax_step(float s, float *state, float *acc, int dim) {
    float ms = 1.0f, vs = 1.0f;
    if (s > state[0]) {
        ms = expf(state[0] - s);
        state[0] = s;
        for (int i = 0; i < dim; i++) acc[i] = round_half(acc[i] * ms);
    } else {
        vs = expf(s - state[0]);
    }
    state[1] = fmaf(state[1], ms, vs);
    return vs;
}

void kiln_attention_span_half_scalar(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                                     int count, int dim, float scale, float *state) {
    if (count <= 0 || dim <= 0 || dim > 256) return;
    float qh[256];
    float *acc = state + 2;
    for (int i = 0; i < dim; i++) qh[i] = round_half(q[i]);
    const int whole = dim & ~31;
    for (int t = 0; t < count; t++) {
        const uint16_t *k = keys + (size_t)t * stride, *v = values + (size_t)t * stride;
        float lanes[4][8] = {{0}};
        for (int i = 0; i < whole; i += 32)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 8; l++)
                    lanes[j][l] = fmaf(qh[i + 8 * j + l], kiln_half_to_float_value(k[i + 8 * j + l]), lanes[j][l]);
        float x0[8];
        for (int l = 0; l < 8; l++) x0[l] = (lanes[0][l] + lanes[2][l]) + (lanes[1][l] + lanes[3][l]);
        float t0[4];
        for (int l = 0; l < 4; l++) t0[l] = x0[l] + x0[l + 4];
        double dot = (double)((t0[0] + t0[1]) + (t0[2] + t0[3]));
        for (int i = whole; i < dim; i++) dot += (double)(qh[i] * kiln_half_to_float_value(k[i]));
        const float s = (float)dot * scale;
        const float vs = half_softmax_step(s, state, acc, dim);
        for (int i = 0; i < dim; i++) acc[i] = round_half(fmaf(kiln_half_to_float_value(v[i]), vs, acc[i]));
    }
}

#ifdef KILN_X86
/// dim a multiple of 8, at most 256 (checked by the caller). The query (as the floats of its
/// halves) and the accumulator stay in registers for a fixed dim; per key the operations are
/// exactly those of the scalar body.
KILN_AVX2_INLINE void span_half_body(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                                     int count, const int dim, float scale, float *state) {
    const int lanes = dim / 8, whole = dim & ~31;
    float qf[256];
    __m256 a[32];
    for (int l = 0; l < lanes; l++) {
        _mm256_storeu_ps(qf + 8 * l, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + 8 * l), _MM_FROUND_TO_NEAREST_INT)));
        a[l] = _mm256_loadu_ps(state + 2 + 8 * l);
    }
    float m = state[0], total = state[1];
    for (int t = 0; t < count; t++) {
        const uint16_t *k = keys + (size_t)t * stride, *v = values + (size_t)t * stride;
        __m256 sum[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int i = 0; i < whole; i += 32)
            for (int j = 0; j < 4; j++)
                sum[j] = _mm256_fmadd_ps(_mm256_loadu_ps(qf + i + 8 * j),
                                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8 * j))), sum[j]);
        const __m256 x0 = _mm256_add_ps(_mm256_add_ps(sum[0], sum[2]), _mm256_add_ps(sum[1], sum[3]));
        const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps(x0, 1));
        const __m128 t1 = _mm_hadd_ps(t0, t0);
        double dot = (double)_mm_cvtss_f32(_mm_hadd_ps(t1, t1));
        for (int i = whole; i < dim; i++) dot += (double)(qf[i] * _cvtsh_ss(k[i]));
        const float s = (float)dot * scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > m) {
            ms = expf(m - s);
            m = s;
            const __m256 mv = _mm256_set1_ps(ms);
            for (int l = 0; l < lanes; l++)
                a[l] = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(a[l], mv), _MM_FROUND_TO_NEAREST_INT));
        } else {
            vs = expf(s - m);
        }
        total = fmaf(total, ms, vs);
        const __m256 p = _mm256_set1_ps(vs);
        for (int l = 0; l < lanes; l++) {
            const __m256 value = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * l)));
            a[l] = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_fmadd_ps(value, p, a[l]), _MM_FROUND_TO_NEAREST_INT));
        }
    }
    for (int l = 0; l < lanes; l++) _mm256_storeu_ps(state + 2 + 8 * l, a[l]);
    state[0] = m;
    state[1] = total;
}

KILN_AVX2 static void span_half_avx2(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                                     int count, int dim, float scale, float *state) {
    switch (dim) {
    case 64: span_half_body(q, keys, values, stride, count, 64, scale, state); break;
    case 128: span_half_body(q, keys, values, stride, count, 128, scale, state); break;
    default: span_half_body(q, keys, values, stride, count, dim, scale, state); break;
    }
}
#endif

void kiln_attention_span_half(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                              int count, int dim, float scale, float *state) {
    if (count <= 0 || dim <= 0 || dim > 256) return;
#ifdef KILN_X86
    if (kiln_simd_active() && dim % 8 == 0) {
        span_half_avx2(q, keys, values, stride, count, dim, scale, state);
        return;
    }
#endif
    kiln_attention_span_half_scalar(q, keys, values, stride, count, dim, scale, state);
}
