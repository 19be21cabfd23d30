#include "kiln_kernels.h"
#include "kiln_internal.h"
#include <math.h>

/// Rounds a float to the nearest half (ties to even) and back: the scales are kept as halves, as
/// llama.cpp's Q8_0/Q8_1 blocks store them, so that products match its rounding.
static float round_to_half_scalar(float x) {
    uint16_t h;
    kiln_float_to_half(&x, 1, &h);
    return kiln_half_to_float_value(h);
}

/// Quantizes one block of 32 floats into lane `lane` of a group block.
static void quantize_block_scalar(const float *x, kiln_q8x4_block *out, int lane) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; i++) {
        int q = (int)nearbyintf(x[i] * id);  // round half to even, as cvtps does
        out->qs[lane][i] = (int8_t)q;
        sum += q;
    }
    out->d[lane] = round_to_half_scalar(d);
    out->s[lane] = round_to_half_scalar(d * (float)sum);
}

/// Zeroes the lanes of the last group that no row fills.
static void clear_padding(int rows, int columns, kiln_q8x4_block *out) {
    if (rows % 4 == 0) return;
    kiln_q8x4_block *group = out + (size_t)(rows / 4) * (columns / 32);
    for (int b = 0; b < columns / 32; b++)
        for (int lane = rows % 4; lane < 4; lane++) {
            group[b].d[lane] = 0;
            group[b].s[lane] = 0;
            memset(group[b].qs[lane], 0, 32);
        }
}

#ifdef KILN_X86
KILN_AVX2 static void quantize_rows_avx2(const float *x, size_t x_stride, int rows, int columns,
                                         kiln_q8x4_block *out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int blocks_per_row = columns / 32;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * x_stride;
        kiln_q8x4_block *blocks = out + (size_t)(r / 4) * blocks_per_row;
        const int lane = r % 4;
        for (int b = 0; b < blocks_per_row; b++) {
            const float *p = row + b * 32;
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
            __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                     _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
            float amax = kiln_hmax8(m);
            float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            __m256 scale = _mm256_set1_ps(id);
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, scale));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, scale));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, scale));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, scale));
            __m256i total = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
            t4 = _mm_hadd_epi32(t4, t4);
            t4 = _mm_hadd_epi32(t4, t4);
            // Pack 32 int32 → 32 int8; the in-lane packs interleave lanes, the permute restores order.
            __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
            __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), order);
            _mm256_storeu_si256((__m256i *)blocks[b].qs[lane], bytes);
            // d and s rounded to halves (d from the unrounded quotient, as the quants were).
            const __m128 ds = _mm_setr_ps(d, d * (float)_mm_cvtsi128_si32(t4), 0, 0);
            const __m128 rounded = _mm_cvtph_ps(_mm_cvtps_ph(ds, _MM_FROUND_TO_NEAREST_INT));
            blocks[b].d[lane] = _mm_cvtss_f32(rounded);
            blocks[b].s[lane] = _mm_cvtss_f32(_mm_movehdup_ps(rounded));
        }
    }
    clear_padding(rows, columns, out);
}
#endif

void kiln_quantize_q8(const float *x, size_t x_stride, int rows, int columns, kiln_q8x4_block *out) {
#ifdef KILN_X86
    if (kiln_simd_active()) {
        quantize_rows_avx2(x, x_stride, rows, columns, out);
        return;
    }
#endif
    kiln_quantize_q8_scalar(x, x_stride, rows, columns, out);
}

void kiln_quantize_q8_scalar(const float *x, size_t x_stride, int rows, int columns, kiln_q8x4_block *out) {
    const int blocks_per_row = columns / 32;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < blocks_per_row; b++)
            quantize_block_scalar(x + (size_t)r * x_stride + b * 32, out + (size_t)(r / 4) * blocks_per_row + b, r % 4);
    clear_padding(rows, columns, out);
}
