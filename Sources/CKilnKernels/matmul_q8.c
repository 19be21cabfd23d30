// Quantized weights × Q8 activations. See kiln_units.h for how each type maps onto 32-element units.
//
// Work order: activation rows in tiles of 4, then weight rows. Within one weight row the loop walks
// its blocks once, decoding each unit once and multiplying it with the 4 activation rows of the
// tile (4 accumulators), so a batch costs a quarter of the weight decoding per token; the tile's
// activations (4 × columns bytes + scales) stay in L1 while the caller's row range of weights sits
// in L1/L2 across tiles.
#include "kiln_units.h"

int kiln_matmul_q8_supports(int type) { return block_bytes(type) != 0; }

// ---------------------------------------------------------------- portable body

void kiln_matmul_q8_scalar(int type, const void *weights, size_t row_bytes, int rows, int columns,
                           const kiln_q8_block *x, size_t xs, int batch, float *y, size_t ys) {
    if (!block_bytes(type)) return;
    const uint8_t *w = (const uint8_t *)weights;
    const int units = units_per_block(type), bb = block_bytes(type);
    const int blocks = columns / (32 * units);
    int q[32];
    float dw[8], mw[8];
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        for (int b = 0; b < batch; b++) {
            const kiln_q8_block *xb = x + (size_t)b * xs;
            float sum = 0;
            for (int blk = 0; blk < blocks; blk++) {
                block_factors(type, row + (size_t)blk * bb, dw, mw);
                for (int u = 0; u < units; u++) {
                    int sc0, sc1;
                    unit_quants_scalar(type, row + (size_t)blk * bb, u, q, &sc0, &sc1);
                    const kiln_q8_block *a = xb + blk * units + u;
                    int dot0 = 0, dot1 = 0;
                    for (int i = 0; i < 16; i++) dot0 += q[i] * a->qs[i];
                    for (int i = 16; i < 32; i++) dot1 += q[i] * a->qs[i];
                    sum += (float)(dot0 * sc0 + dot1 * sc1) * (dw[u] * a->d) + mw[u] * a->s;
                }
            }
            y[(size_t)b * ys + r] = sum;
        }
    }
}

// ---------------------------------------------------------------- AVX2 body
#ifdef KILN_X86

KILN_AVX2_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// The float factors [dw, mw, 0, 0] of a block of a 32-element type (one unit per block).
KILN_AVX2_INLINE __m128 simple_factors(const int type, const uint8_t *b) {
    switch (type) {
    case KILN_TYPE_Q4_1: case KILN_TYPE_Q5_1:  // d and m are adjacent halves
        return _mm_cvtph_ps(_mm_cvtsi32_si128((int)kiln_load_u32(b)));
    case KILN_TYPE_Q4_0:
        return _mm_mul_ps(_mm_set1_ps(_cvtsh_ss(kiln_load_u16(b))), _mm_setr_ps(1, -8, 0, 0));
    case KILN_TYPE_Q5_0:
        return _mm_mul_ps(_mm_set1_ps(_cvtsh_ss(kiln_load_u16(b))), _mm_setr_ps(1, -16, 0, 0));
    default:  // Q8_0: no offset term
        return _mm_set_ss(_cvtsh_ss(kiln_load_u16(b)));
    }
}

/// One unit of one weight row against `nb` activation rows. `factors` = [dw, mw, 0, 0]; one multiply
/// by the activation block's adjacent [d, s] gives both the unit's scale dw·d and its offset term
/// mw·s, which accumulates in lane 1 of `offsets[b]`.
KILN_AVX2_INLINE void unit_step(const int type, const int nb, const uint8_t *wb, int u, __m128 factors,
                                const kiln_q8_block *x, size_t xs, __m256 *acc, __m128 *offsets) {
    const int kind = unit_kind(type);
    const __m256i q = unit_quants_avx2(type, wb, u);
    const __m256i magnitude = kind == UNIT_UNSIGNED ? q : _mm256_sign_epi8(q, q);
    const __m256i multipliers = kind == UNIT_SIGNED_SCALED16 ? q6k_unit_scales(wb, u) : _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        const kiln_q8_block *a = x + (size_t)b * xs;
        __m256i xq = _mm256_loadu_si256((const __m256i *)a->qs);
        if (kind != UNIT_UNSIGNED) xq = _mm256_sign_epi8(xq, q);
        const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, xq), multipliers);
        const __m128 products = _mm_mul_ps(factors, _mm_castpd_ps(_mm_load_sd((const double *)&a->d)));
        acc[b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_broadcastss_ps(products), acc[b]);
        if (has_offset(type)) offsets[b] = _mm_add_ps(offsets[b], products);
    }
}

/// One weight row against `nb` (1...4) activation rows; writes y[b * ys] for b < nb.
/// Even and odd units feed separate accumulators (two independent dependency chains per
/// activation, which matters most for a single row: decode), summed at the end. The arithmetic per
/// (row, activation) is the same for every nb, so a sequence's result does not depend on the batch.
KILN_AVX2_INLINE void row_tile(const int type, const int nb, const uint8_t *row, int blocks,
                               const kiln_q8_block *x, size_t xs, float *y, size_t ys) {
    const int units = units_per_block(type), bb = block_bytes(type);
    __m256 even[4], odd[4];
    __m128 evenOffsets[4], oddOffsets[4];
    for (int b = 0; b < 4; b++) {
        even[b] = odd[b] = _mm256_setzero_ps();
        evenOffsets[b] = oddOffsets[b] = _mm_setzero_ps();
    }
    if (units == 1) {
        int blk = 0;
        for (; blk + 2 <= blocks; blk += 2) {
            const uint8_t *w0 = row + (size_t)blk * bb, *w1 = w0 + bb;
            unit_step(type, nb, w0, 0, simple_factors(type, w0), x + blk, xs, even, evenOffsets);
            unit_step(type, nb, w1, 0, simple_factors(type, w1), x + blk + 1, xs, odd, oddOffsets);
        }
        if (blk < blocks) {
            const uint8_t *w0 = row + (size_t)blk * bb;
            unit_step(type, nb, w0, 0, simple_factors(type, w0), x + blk, xs, even, evenOffsets);
        }
    } else {
        float dw[8], mw[8];
        for (int blk = 0; blk < blocks; blk++) {
            const uint8_t *wb = row + (size_t)blk * bb;
            block_factors_avx2(type, wb, dw, mw);
            for (int u = 0; u < 8; u += 2) {
                unit_step(type, nb, wb, u, _mm_setr_ps(dw[u], mw[u], 0, 0), x + blk * 8 + u, xs, even, evenOffsets);
                unit_step(type, nb, wb, u + 1, _mm_setr_ps(dw[u + 1], mw[u + 1], 0, 0), x + blk * 8 + u + 1, xs,
                          odd, oddOffsets);
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        __m128 offsets = _mm_add_ps(evenOffsets[b], oddOffsets[b]);
        float offset = _mm_cvtss_f32(_mm_movehdup_ps(offsets));
        y[(size_t)b * ys] = hsum(_mm256_add_ps(even[b], odd[b])) + offset;
    }
}

KILN_AVX2_INLINE void matmul_type(const int type, const uint8_t *w, size_t row_bytes, int rows, int columns,
                                  const kiln_q8_block *x, size_t xs, int batch, float *y, size_t ys) {
    const int blocks = columns / (32 * units_per_block(type));
    int b = 0;
    for (; b + 4 <= batch; b += 4)
        for (int r = 0; r < rows; r++)
            row_tile(type, 4, w + (size_t)r * row_bytes, blocks, x + (size_t)b * xs, xs, y + (size_t)b * ys + r, ys);
    const int rest = batch - b;
    for (int r = 0; r < rows && rest > 0; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        const kiln_q8_block *xb = x + (size_t)b * xs;
        float *yb = y + (size_t)b * ys + r;
        if (rest == 1) row_tile(type, 1, row, blocks, xb, xs, yb, ys);
        else if (rest == 2) row_tile(type, 2, row, blocks, xb, xs, yb, ys);
        else row_tile(type, 3, row, blocks, xb, xs, yb, ys);
    }
}

#define KILN_DEFINE_MATMUL(NAME, TYPE)                                                                  \
    KILN_AVX2 static void NAME(const uint8_t *w, size_t rb, int rows, int columns,                      \
                               const kiln_q8_block *x, size_t xs, int batch, float *y, size_t ys) {     \
        matmul_type(TYPE, w, rb, rows, columns, x, xs, batch, y, ys);                                   \
    }
KILN_DEFINE_MATMUL(matmul_q4_0_avx2, KILN_TYPE_Q4_0)
KILN_DEFINE_MATMUL(matmul_q4_1_avx2, KILN_TYPE_Q4_1)
KILN_DEFINE_MATMUL(matmul_q5_0_avx2, KILN_TYPE_Q5_0)
KILN_DEFINE_MATMUL(matmul_q5_1_avx2, KILN_TYPE_Q5_1)
KILN_DEFINE_MATMUL(matmul_q8_0_avx2, KILN_TYPE_Q8_0)
KILN_DEFINE_MATMUL(matmul_q4_k_avx2, KILN_TYPE_Q4_K)
KILN_DEFINE_MATMUL(matmul_q5_k_avx2, KILN_TYPE_Q5_K)
KILN_DEFINE_MATMUL(matmul_q6_k_avx2, KILN_TYPE_Q6_K)
#endif

void kiln_matmul_q8(int type, const void *weights, size_t row_bytes, int rows, int columns,
                    const kiln_q8_block *x, size_t xs, int batch, float *y, size_t ys) {
    const uint8_t *w = (const uint8_t *)weights;
#ifdef KILN_X86
    if (kiln_simd_active()) {
        switch (type) {
        case KILN_TYPE_Q4_0: matmul_q4_0_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q4_1: matmul_q4_1_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q5_0: matmul_q5_0_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q5_1: matmul_q5_1_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q8_0: matmul_q8_0_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q4_K: matmul_q4_k_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q5_K: matmul_q5_k_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        case KILN_TYPE_Q6_K: matmul_q6_k_avx2(w, row_bytes, rows, columns, x, xs, batch, y, ys); return;
        }
    }
#endif
    kiln_matmul_q8_scalar(type, w, row_bytes, rows, columns, x, xs, batch, y, ys);
}
