// Quantized weights × Q8 activations. See kiln_units.h for how each type maps onto 32-element units.
//
// Activations come in groups of four rows (kiln_q8x4_block). For a batch, each weight row is
// walked once per group: every unit is decoded once and multiplied with the group's four rows, and
// one multiply gives the unit's scale against all four (dw · d[0..3]) while one fused multiply-add
// accumulates its offset term (mw · s[0..3]). A single row (decode) takes a body that does, per row,
// exactly the same float operations in the same order, so a sequence gets the same bits alone or
// in any batch. 32-element types (Q4_0 ... Q8_0) keep one accumulator chain per row, block by block
// in order, with the offsets summed separately and added last: the float operations of llama.cpp's
// AVX2 ggml_vec_dot_q4_1_q8_1 / q8_0_q8_0, so that (with the half activation scales of
// kiln_quantize_q8) the products have its bits. The K-quant types feed even and odd units to
// separate accumulators (llama.cpp quantizes their activations differently anyway).
#include "kiln_units.h"

int kiln_matmul_q8_supports(int type) { return block_bytes(type) != 0; }

// ---------------------------------------------------------------- portable body

void kiln_matmul_q8_scalar(int type, const void *weights, size_t row_bytes, int rows, int columns,
                           const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
    if (!block_bytes(type)) return;
    const uint8_t *w = (const uint8_t *)weights;
    const int units = units_per_block(type), bb = block_bytes(type);
    const int blocks = columns / (32 * units), blocks_per_row = columns / 32;
    int q[32];
    float dw[8], mw[8];
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        for (int b = 0; b < batch; b++) {
            const kiln_q8x4_block *group = x + (size_t)(b / 4) * blocks_per_row;
            const int lane = b % 4;
            float sum = 0;
            for (int blk = 0; blk < blocks; blk++) {
                block_factors(type, row + (size_t)blk * bb, dw, mw);
                for (int u = 0; u < units; u++) {
                    int sc0, sc1;
                    unit_quants_scalar(type, row + (size_t)blk * bb, u, q, &sc0, &sc1);
                    const kiln_q8x4_block *a = group + blk * units + u;
                    int dot0 = 0, dot1 = 0;
                    for (int i = 0; i < 16; i++) dot0 += q[i] * a->qs[lane][i];
                    for (int i = 16; i < 32; i++) dot1 += q[i] * a->qs[lane][i];
                    sum += (float)(dot0 * sc0 + dot1 * sc1) * (dw[u] * a->d[lane]) + mw[u] * a->s[lane];
                }
            }
            y[(size_t)b * ys + r] = sum;
        }
    }
}

// ---------------------------------------------------------------- AVX2 bodies
#ifdef KILN_X86

/// The float factors [dw, mw, ·, ·] of a block of a 32-element type (one unit per block).
/// Halves are converted with the vector vcvtph2ps: the scalar _cvtsh_ss form measured half the
/// batched throughput for Q4_0.
KILN_AVX2_INLINE __m128 simple_factors(const int type, const uint8_t *b) {
    switch (type) {
    case KILN_TYPE_Q4_1: case KILN_TYPE_Q5_1:  // d and m are adjacent halves
        return _mm_cvtph_ps(_mm_cvtsi32_si128((int)kiln_load_u32(b)));
    default:  // Q4_0, Q5_0, Q8_0: no offset term ([d, 0, 0, 0])
        return _mm_cvtph_ps(_mm_cvtsi32_si128(kiln_load_u16(b)));
    }
}

/// The unit's integer dot with one activation row: int32 × 8 lanes.
KILN_AVX2_INLINE __m256i unit_dot(const int kind, __m256i q, __m256i magnitude, __m256i multipliers, const int8_t *xq) {
    __m256i a = _mm256_loadu_si256((const __m256i *)xq);
    if (kind != UNIT_UNSIGNED) a = _mm256_sign_epi8(a, q);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, a), multipliers);
}

/// One unit against `nb` (1 or 4) rows of group `a` (lanes 0 ..< nb).
/// Per row i: acc[i] = fma(float(dot_i), dw · d[i], acc[i]); offsets lane i = fma(mw, s[i], lane i).
KILN_AVX2_INLINE void unit_step(const int type, const int nb, const uint8_t *wb, int u, __m128 factors,
                                const kiln_q8x4_block *a, __m256 *acc, __m128 *offsets) {
    const int kind = unit_kind(type);
    const __m256i q = unit_quants_avx2(type, wb, u);
    const __m256i magnitude = kind == UNIT_UNSIGNED ? q : _mm256_sign_epi8(q, q);
    const __m256i multipliers = kind == UNIT_SIGNED_SCALED16 ? q6k_unit_scales(wb, u) : _mm256_set1_epi16(1);
    if (nb == 1) {
        const __m128 scale = _mm_mul_ss(factors, _mm_load_ss(&a->d[0]));
        acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(unit_dot(kind, q, magnitude, multipliers, a->qs[0])),
                                 _mm256_broadcastss_ps(scale), acc[0]);
        if (has_offset(type))
            offsets[0] = _mm_fmadd_ss(_mm_movehdup_ps(factors), _mm_load_ss(&a->s[0]), offsets[0]);
        return;
    }
    const __m128 scales = _mm_mul_ps(_mm_broadcastss_ps(factors), _mm_loadu_ps(a->d));
    if (has_offset(type))
        offsets[0] = _mm_fmadd_ps(_mm_permute_ps(factors, 0x55), _mm_loadu_ps(a->s), offsets[0]);
    const __m256 wide = _mm256_castps128_ps256(scales);
    for (int i = 0; i < 4; i++) {
        const __m256 scale = i == 0 ? _mm256_broadcastss_ps(scales) : _mm256_permutevar8x32_ps(wide, _mm256_set1_epi32(i));
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(unit_dot(kind, q, magnitude, multipliers, a->qs[i])), scale, acc[i]);
    }
}

/// One weight row against `nb` (1 or 4) rows of a group; writes y[i * ys] for i < valid.
/// 32-element types accumulate every block into one chain per activation row, in block order,
/// and add the offsets last: the float operations of llama.cpp's ggml_vec_dot_q4_1_q8_1 /
/// q8_0_q8_0 (AVX2), so that the same inputs give the same bits.
KILN_AVX2_INLINE void row_group(const int type, const int nb, const uint8_t *row, int blocks,
                                const kiln_q8x4_block *x, float *y, size_t ys, int valid) {
    const int units = units_per_block(type), bb = block_bytes(type);
    __m256 even[4], odd[4];
    for (int i = 0; i < 4; i++) even[i] = odd[i] = _mm256_setzero_ps();
    __m128 evenOffsets = _mm_setzero_ps(), oddOffsets = _mm_setzero_ps();
    if (units == 1) {
        for (int blk = 0; blk < blocks; blk++) {
            const uint8_t *w0 = row + (size_t)blk * bb;
            unit_step(type, nb, w0, 0, simple_factors(type, w0), x + blk, even, &evenOffsets);
        }
    } else {
        float dw[8], mw[8];
        for (int blk = 0; blk < blocks; blk++) {
            const uint8_t *wb = row + (size_t)blk * bb;
            block_factors_avx2(type, wb, dw, mw);
            for (int u = 0; u < 8; u += 2) {
                unit_step(type, nb, wb, u, _mm_setr_ps(dw[u], mw[u], 0, 0), x + blk * 8 + u, even, &evenOffsets);
                unit_step(type, nb, wb, u + 1, _mm_setr_ps(dw[u + 1], mw[u + 1], 0, 0), x + blk * 8 + u + 1,
                          odd, &oddOffsets);
            }
        }
    }
    float offsets[4];
    _mm_storeu_ps(offsets, _mm_add_ps(evenOffsets, oddOffsets));
    for (int i = 0; i < valid; i++) y[(size_t)i * ys] = kiln_hsum8(_mm256_add_ps(even[i], odd[i])) + offsets[i];
}

KILN_AVX2_INLINE void matmul_type(const int type, const uint8_t *w, size_t row_bytes, int rows, int columns,
                                  const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
    const int blocks = columns / (32 * units_per_block(type)), blocks_per_row = columns / 32;
    if (batch == 1) {
        // One row at a time: out-of-order execution overlaps consecutive rows' chains. (Two rows
        // interleaved measured no faster from cache and up to 2× slower streaming from memory.)
        for (int r = 0; r < rows; r++) row_group(type, 1, w + (size_t)r * row_bytes, blocks, x, y + r, ys, 1);
        return;
    }
    // Groups outer, weight rows inner: the group's activations stay in L1 while the caller's row
    // range of weights (a few KB to a few tens of KB) is reread from L1/L2.
    for (int g = 0; g * 4 < batch; g++) {
        const int valid = batch - g * 4 < 4 ? batch - g * 4 : 4;
        const kiln_q8x4_block *group = x + (size_t)g * blocks_per_row;
        for (int r = 0; r < rows; r++)
            row_group(type, 4, w + (size_t)r * row_bytes, blocks, group, y + (size_t)(4 * g) * ys + r, ys, valid);
    }
}

#define KILN_DEFINE_MATMUL(NAME, TYPE)                                                                  \
    KILN_AVX2 static void NAME(const uint8_t *w, size_t rb, int rows, int columns,                      \
                               const kiln_q8x4_block *x, int batch, float *y, size_t ys) {              \
        matmul_type(TYPE, w, rb, rows, columns, x, batch, y, ys);                                       \
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
                    const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
    if (kiln_matmul_q8_avx512(type, weights, row_bytes, rows, columns, x, batch, y, ys)) return;
    kiln_matmul_q8_avx2(type, weights, row_bytes, rows, columns, x, batch, y, ys);
}

void kiln_matmul_q8_avx2(int type, const void *weights, size_t row_bytes, int rows, int columns,
                         const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
    const uint8_t *w = (const uint8_t *)weights;
#ifdef KILN_X86
    if (kiln_simd_active()) {
        switch (type) {
        case KILN_TYPE_Q4_0: matmul_q4_0_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q4_1: matmul_q4_1_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q5_0: matmul_q5_0_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q5_1: matmul_q5_1_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q8_0: matmul_q8_0_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q4_K: matmul_q4_k_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q5_K: matmul_q5_k_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        case KILN_TYPE_Q6_K: matmul_q6_k_avx2(w, row_bytes, rows, columns, x, batch, y, ys); return;
        }
    }
#endif
    kiln_matmul_q8_scalar(type, w, row_bytes, rows, columns, x, batch, y, ys);
}
