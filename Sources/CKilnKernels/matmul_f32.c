// Weights × f32 activations, the weights turned into floats in registers. The production path for
// F32/F16/BF16 weights; for Q4_1 and Q8_0 it exists so the kernel benchmark can compare it with the
// integer path (kiln_matmul_q8), which measured faster (see KilnTensor's Matmul doc comment).
#include "kiln_kernels.h"
#include "kiln_internal.h"
#include "kiln_units.h"

int kiln_matmul_f32_supports(int type) {
    return type == KILN_TYPE_F32 || type == KILN_TYPE_F16 || type == KILN_TYPE_BF16 ||
           type == KILN_TYPE_Q4_1 || type == KILN_TYPE_Q8_0;
}

static float weight_scalar(int type, const uint8_t *row, int c) {
    switch (type) {
    case KILN_TYPE_F32: { float v; memcpy(&v, row + 4 * (size_t)c, 4); return v; }
    case KILN_TYPE_F16: return kiln_load_half(row + 2 * (size_t)c);
    case KILN_TYPE_BF16: { uint32_t bits = (uint32_t)kiln_load_u16(row + 2 * (size_t)c) << 16; float v; memcpy(&v, &bits, 4); return v; }
    case KILN_TYPE_Q4_1: {
        const uint8_t *b = row + (size_t)(c / 32) * 20;
        int i = c % 32, q = i < 16 ? (b[4 + i] & 15) : (b[4 + i - 16] >> 4);
        return kiln_load_half(b) * (float)q + kiln_load_half(b + 2);
    }
    case KILN_TYPE_Q8_0: {
        const uint8_t *b = row + (size_t)(c / 32) * 34;
        return (float)(int8_t)b[2 + c % 32] * kiln_load_half(b);
    }
    }
    return 0;
}

void kiln_matmul_f32_scalar(int type, const void *weights, size_t rb, int rows, int columns,
                            const float *x, size_t xs, int batch, float *y, size_t ys) {
    if (!kiln_matmul_f32_supports(type)) return;
    const uint8_t *w = (const uint8_t *)weights;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++) {
            float sum = 0;
            for (int c = 0; c < columns; c++) sum += weight_scalar(type, w + (size_t)r * rb, c) * x[(size_t)b * xs + c];
            y[(size_t)b * ys + r] = sum;
        }
}

#ifdef KILN_X86
/// 8 weights starting at element c of a plain-float row, as floats.
KILN_AVX2_INLINE __m256 plain8(const int type, const uint8_t *row, int c) {
    if (type == KILN_TYPE_F32) return _mm256_loadu_ps((const float *)(row + 4 * (size_t)c));
    __m128i h = _mm_loadu_si128((const __m128i *)(row + 2 * (size_t)c));
    if (type == KILN_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// One weight row × nb (1...4) activation rows.
KILN_AVX2_INLINE void row_tile_f32(const int type, const int nb, const uint8_t *row, int columns,
                                   const float *x, size_t xs, float *y, size_t ys) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int c = 0;
    if (type == KILN_TYPE_Q4_1 || type == KILN_TYPE_Q8_0) {
        for (; c < columns; c += 32) {
            const uint8_t *blk = row + (size_t)(c / 32) * block_bytes(type);
            const __m256 d = _mm256_set1_ps(KILN_HALF_F16C(blk));
            __m256i q = unit_quants_avx2(type, blk, 0);
            const __m128i low = _mm256_castsi256_si128(q), high = _mm256_extracti128_si256(q, 1);
            const __m128i parts[4] = {low, _mm_srli_si128(low, 8), high, _mm_srli_si128(high, 8)};
            __m256 wv[4];
            for (int k = 0; k < 4; k++) {
                __m256i ints = type == KILN_TYPE_Q8_0 ? _mm256_cvtepi8_epi32(parts[k]) : _mm256_cvtepu8_epi32(parts[k]);
                __m256 qf = _mm256_cvtepi32_ps(ints);
                wv[k] = type == KILN_TYPE_Q8_0 ? _mm256_mul_ps(qf, d)
                                               : _mm256_fmadd_ps(qf, d, _mm256_set1_ps(KILN_HALF_F16C(blk + 2)));
            }
            for (int b = 0; b < nb; b++)
                for (int k = 0; k < 4; k++)
                    acc[b] = _mm256_fmadd_ps(wv[k], _mm256_loadu_ps(x + (size_t)b * xs + c + 8 * k), acc[b]);
        }
    } else {
        for (; c + 8 <= columns; c += 8) {
            __m256 wv = plain8(type, row, c);
            for (int b = 0; b < nb; b++) acc[b] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + (size_t)b * xs + c), acc[b]);
        }
    }
    for (int b = 0; b < nb; b++) {
        float sum = kiln_hsum8(acc[b]);
        for (int t = c; t < columns; t++) sum += weight_scalar(type, row, t) * x[(size_t)b * xs + t];
        y[(size_t)b * ys] = sum;
    }
}

KILN_AVX2_INLINE void matmul_f32_type(const int type, const uint8_t *w, size_t rb, int rows, int columns,
                                      const float *x, size_t xs, int batch, float *y, size_t ys) {
    int b = 0;
    for (; b + 4 <= batch; b += 4)
        for (int r = 0; r < rows; r++)
            row_tile_f32(type, 4, w + (size_t)r * rb, columns, x + (size_t)b * xs, xs, y + (size_t)b * ys + r, ys);
    const int rest = batch - b;
    for (int r = 0; r < rows && rest > 0; r++) {
        const uint8_t *row = w + (size_t)r * rb;
        const float *xb = x + (size_t)b * xs;
        float *yb = y + (size_t)b * ys + r;
        if (rest == 1) row_tile_f32(type, 1, row, columns, xb, xs, yb, ys);
        else if (rest == 2) row_tile_f32(type, 2, row, columns, xb, xs, yb, ys);
        else row_tile_f32(type, 3, row, columns, xb, xs, yb, ys);
    }
}

#define KILN_DEFINE_MATMUL_F32(NAME, TYPE)                                                              \
    KILN_AVX2 static void NAME(const uint8_t *w, size_t rb, int rows, int columns, const float *x,      \
                               size_t xs, int batch, float *y, size_t ys) {                             \
        matmul_f32_type(TYPE, w, rb, rows, columns, x, xs, batch, y, ys);                               \
    }
KILN_DEFINE_MATMUL_F32(matmul_f32w_avx2, KILN_TYPE_F32)
KILN_DEFINE_MATMUL_F32(matmul_f16w_avx2, KILN_TYPE_F16)
KILN_DEFINE_MATMUL_F32(matmul_bf16w_avx2, KILN_TYPE_BF16)
KILN_DEFINE_MATMUL_F32(matmul_q4_1f_avx2, KILN_TYPE_Q4_1)
KILN_DEFINE_MATMUL_F32(matmul_q8_0f_avx2, KILN_TYPE_Q8_0)
#endif

void kiln_matmul_f32(int type, const void *weights, size_t rb, int rows, int columns,
                     const float *x, size_t xs, int batch, float *y, size_t ys) {
    const uint8_t *w = (const uint8_t *)weights;
#ifdef KILN_X86
    if (kiln_simd_active()) {
        switch (type) {
        case KILN_TYPE_F32: matmul_f32w_avx2(w, rb, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_F16: matmul_f16w_avx2(w, rb, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_BF16: matmul_bf16w_avx2(w, rb, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q4_1: matmul_q4_1f_avx2(w, rb, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q8_0: matmul_q8_0f_avx2(w, rb, rows, columns, x, xs, batch, y, ys); return;
        }
    }
#endif
    kiln_matmul_f32_scalar(type, w, rb, rows, columns, x, xs, batch, y, ys);
}
