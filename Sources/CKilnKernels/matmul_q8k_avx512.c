// AVX-512 (VNNI) bodies of kiln_matmul_q8k for Q4_K and Q6_K, taken where the CPU has AVX-512
// F/BW/VL and VNNI. They give the AVX2 bodies' bits (llama.cpp's: its repacked Q4_K gemm's and
// ggml_vec_dot_q6_K_q8_K's).
//
// As in matmul_q8_avx512.c, one 512-bit register holds the same super-block of two consecutive
// weight rows (row r in the low 256 bits, r + 1 in the high) against one activation row broadcast
// to both halves, so that each 32-bit lane holds exactly the integer lane of the AVX2 body: lane k
// of a super-block is Σ over its 32-element chunks c of sc[2c + k/4] · Σ_{t<4} q · x at 32c + 4k + t,
// less 32 · (bsums[2k] · sc[2k] + bsums[2k+1] · sc[2k+1]). The products' pairs come from maddubs and
// are scaled and summed by one vpdpwssd (madd and add), the integers being exact either way; the
// lanes are then accumulated in float with fma(lane, d_x · d_w, acc) super-block by super-block and
// summed at the end in the AVX2 body's order. Each decoded pair of weight super-blocks serves up to
// eight activation rows. Q4_K with fewer than eight activation rows left goes the same way.
//
// Q4_K with eight or more activation rows turns them sideways instead (q8k_columns, once per
// sixteen rows per call): a 512-bit register holds the same four quants of sixteen activation rows,
// one row per lane, and a weight row's four quants are broadcast against it. Because llama.cpp's
// Q4_K arithmetic reduces each super-block to one exact integer per (weight row, activation row)
// before any float operation, every lane can carry that integer to the end on its own: no horizontal
// sums, one vpdpbusd per 64 multiply-adds, and each super-block's float operations done for sixteen
// rows at once. Each 32-element sub-block's integer is formed as two half sums of 16 products, which
// fit an int16 (|Σ| ≤ 16 · 15 · 127), so its 6-bit scale is applied by a vpdpwssd instead of a
// 32-bit multiply. Measured with `kiln bench-kernels -t 1 --cpu-time -r 5 --types Q4_K --shapes
// 1536x1536,8960x1536,1536x8960,896x4864 --batch 64` (Docs/benchmarks.md): batched Q4_K products went
// from 62–65 to 109–114 GMAC/s.
#include "kiln_units.h"

#ifdef KILN_X86

enum { ROWS_PER_PASS = 8 };

/// 32 bytes at p0 in the low half, 32 at p1 in the high half.
KILN_AVX512_INLINE __m512i load_pair(const uint8_t *p0, const uint8_t *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

/// Prefetches the `bytes` bytes at p0 and at p1, a line at a time.
KILN_AVX512_INLINE void prefetch_block(const uint8_t *p0, const uint8_t *p1, int bytes) {
    for (int offset = 0; offset < bytes; offset += 64) {
        _mm_prefetch((const char *)(p0 + offset), _MM_HINT_T0);
        _mm_prefetch((const char *)(p1 + offset), _MM_HINT_T0);
    }
}

/// The sum of eight float lanes in llama.cpp's hsum_float_8 order (the AVX2 body's hsum_lanes).
KILN_AVX512_INLINE float sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/// Q6_K rows b0 and b1 (b1 may equal b0) against activation rows 0 ..< nb (row i's blocks at
/// x + i · stride); results to y[i · ys] (row r) and y[i · ys + 1] (row r + 1, when `both`).
KILN_AVX512_INLINE void q6k_pair(const int nb, const uint8_t *w0, const uint8_t *w1, int blocks,
                                 const kiln_q8k_block *x, int stride, float *y, size_t ys, int both,
                                 size_t ahead) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(3);
    __m512 acc[ROWS_PER_PASS];
    for (int i = 0; i < nb; i++) acc[i] = _mm512_setzero_ps();
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b0 = w0 + (size_t)blk * 210, *b1 = w1 + (size_t)blk * 210;
        prefetch_block(b0 + ahead, b1 + ahead, 210);
        // Both rows' sixteen int8 scales as int16: row r's in elements 0–15, row r + 1's in 16–31.
        const __m512i scales = _mm512_cvtepi8_epi16(
            _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 192))),
                                    _mm_loadu_si128((const __m128i *)(b1 + 192)), 1));
        __m512i sums[ROWS_PER_PASS];
        for (int i = 0; i < nb; i++) {
            const __m512i bsums = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + (size_t)i * stride + blk)->bsums));
            sums[i] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_madd_epi16(bsums, scales), 5));
        }
        for (int h = 0; h < 2; h++) {
            const __m512i ql0 = load_pair(b0 + 64 * h, b1 + 64 * h);
            const __m512i ql1 = load_pair(b0 + 64 * h + 32, b1 + 64 * h + 32);
            const __m512i qh = load_pair(b0 + 128 + 32 * h, b1 + 128 + 32 * h);
            __m512i q[4], multipliers[4];
            q[0] = _mm512_or_si512(_mm512_and_si512(ql0, low4), _mm512_slli_epi16(_mm512_and_si512(qh, low2), 4));
            q[1] = _mm512_or_si512(_mm512_and_si512(ql1, low4),
                                   _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2), low2), 4));
            q[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql0, 4), low4),
                                   _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 4), low2), 4));
            q[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql1, 4), low4),
                                   _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 6), low2), 4));
            for (int c = 0; c < 4; c++) {
                // Chunk 4h + c: scale 2·chunk for its first 16 elements, 2·chunk + 1 for the last 16.
                const int s = 2 * (4 * h + c);
                const __m512i index = _mm512_setr_epi32(
                    s | s << 16, s | s << 16, s | s << 16, s | s << 16, (s + 1) | (s + 1) << 16, (s + 1) | (s + 1) << 16,
                    (s + 1) | (s + 1) << 16, (s + 1) | (s + 1) << 16, (s + 16) | (s + 16) << 16, (s + 16) | (s + 16) << 16,
                    (s + 16) | (s + 16) << 16, (s + 16) | (s + 16) << 16, (s + 17) | (s + 17) << 16,
                    (s + 17) | (s + 17) << 16, (s + 17) | (s + 17) << 16, (s + 17) | (s + 17) << 16);
                multipliers[c] = _mm512_permutexvar_epi16(index, scales);
            }
            for (int i = 0; i < nb; i++) {
                const int8_t *xs = (x + (size_t)i * stride + blk)->qs + 128 * h;
                for (int c = 0; c < 4; c++) {
                    const __m512i a = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xs + 32 * c)));
                    sums[i] = _mm512_dpwssd_epi32(sums[i], multipliers[c], _mm512_maddubs_epi16(q[c], a));
                }
            }
        }
        const __m512 dw = _mm512_castps256_ps512(_mm256_set1_ps(KILN_HALF_F16C(b0 + 208)));
        const __m512 dwPair = _mm512_insertf32x8(dw, _mm256_set1_ps(KILN_HALF_F16C(b1 + 208)), 1);
        for (int i = 0; i < nb; i++) {
            const float dx = (x + (size_t)i * stride + blk)->d;
            acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dx), dwPair), _mm512_cvtepi32_ps(sums[i]), acc[i]);
        }
    }
    for (int i = 0; i < nb; i++) {
        y[(size_t)i * ys] = sum_lanes(_mm512_castps512_ps256(acc[i]));
        if (both) y[(size_t)i * ys + 1] = sum_lanes(_mm512_extractf32x8_ps(acc[i], 1));
    }
}


/// The sums of the eight 32-bit lanes of each half of v0 … v3 (row r in the low halves, r + 1 in the
/// high): [Σ v0 low, Σ v1 low, Σ v2 low, Σ v3 low] in the low 128 bits, the high halves' in the next.
KILN_AVX512_INLINE __m512i sum_halves4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v0, v1), _mm512_unpackhi_epi32(v0, v1));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v2, v3), _mm512_unpackhi_epi32(v2, v3));
    // Per 128-bit lane: [v0, v1, v2, v3] summed over that lane's four elements.
    const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
    return _mm512_add_epi32(_mm512_shuffle_i64x2(u, u, 0x08), _mm512_shuffle_i64x2(u, u, 0x0D));  // lanes 0+1, 2+3
}

/// The eight 6-bit scales and eight 6-bit minimums of the Q4_K super-block at b (llama.cpp's
/// unpacking of its 12 bytes), one byte each, sub-block j in byte j.
KILN_AVX512_INLINE void q4k_scales_and_minimums(const uint8_t *b, uint64_t *scales, uint64_t *minimums) {
    uint32_t u[3];
    memcpy(u, b + 4, 12);
    *scales = (uint64_t)(u[0] & 0x3F3F3F3F) | (uint64_t)((u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4)) << 32;
    *minimums = (uint64_t)(u[1] & 0x3F3F3F3F) | (uint64_t)(((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4)) << 32;
}

/// Q4_K rows b0 and b1 (b1 may equal b0) against activation rows 0 ..< nb, as q6k_pair. Per row and
/// activation row the integers of llama.cpp's repacked gemv: I = Σ_j sc_j · Σ q · x and
/// M = Σ_j m_j · (bsum_2j + bsum_2j+1), accumulated as acc = fma(I, d_w · d_x, acc),
/// mins = fma(M, dmin_w · d_x, mins); the result acc − mins. The integers are exact however they are
/// summed, so the products go through maddubs and vpdpwssd and the eight lanes of each (weight row,
/// activation row) are reduced four activation rows at a time; the float operations are the AVX2
/// body's, four activation rows per instruction.
KILN_AVX512_INLINE void q4k_pair(const int nb, const uint8_t *w0, const uint8_t *w1, int blocks,
                                 const kiln_q8k_block *x, int stride, float *y, size_t ys, int both,
                                 size_t ahead) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i pairIndex = _mm512_setr_epi32(0, 0x10001, 0x20002, 0x30003, 0x40004, 0x50005, 0x60006, 0x70007,
                                                0x80008, 0x90009, 0xA000A, 0xB000B, 0xC000C, 0xD000D, 0xE000E, 0xF000F);
    __m128 acc[2][2], mins[2][2];  // [activation rows 0–3 / 4–7][row r / r + 1]
    for (int g = 0; g < 2; g++)
        for (int k = 0; k < 2; k++) acc[g][k] = mins[g][k] = _mm_setzero_ps();
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b0 = w0 + (size_t)blk * 144, *b1 = w1 + (size_t)blk * 144;
        prefetch_block(b0 + ahead, b1 + ahead, 144);
        // Scales and minimums of both rows as bytes (llama.cpp's unpacking of the 12 bytes), widened to int16.
        uint64_t sc[2], mn[2];
        for (int k = 0; k < 2; k++) q4k_scales_and_minimums(k ? b1 : b0, &sc[k], &mn[k]);
        const __m512i scales = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_set_epi64x((long long)sc[1], (long long)sc[0])));
        // m_j for both elements of bsums pair j: row r's in the low half, r + 1's in the high.
        const __m512i minimums = _mm512_permutexvar_epi16(
            pairIndex, _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_set_epi64x((long long)mn[1], (long long)mn[0]))));
        __m512i q[8], multipliers[8];
        for (int k = 0; k < 4; k++) {
            const __m512i bits = load_pair(b0 + 16 + 32 * k, b1 + 16 + 32 * k);
            q[2 * k] = _mm512_and_si512(bits, low4);
            q[2 * k + 1] = _mm512_and_si512(_mm512_srli_epi16(bits, 4), low4);
        }
        for (int j = 0; j < 8; j++)
            multipliers[j] = _mm512_permutexvar_epi16(_mm512_set_epi32(
                (8 + j) * 0x10001, (8 + j) * 0x10001, (8 + j) * 0x10001, (8 + j) * 0x10001, (8 + j) * 0x10001,
                (8 + j) * 0x10001, (8 + j) * 0x10001, (8 + j) * 0x10001, j * 0x10001, j * 0x10001, j * 0x10001,
                j * 0x10001, j * 0x10001, j * 0x10001, j * 0x10001, j * 0x10001), scales);
        const __m128 halves = _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)kiln_load_u32(b1), (int)kiln_load_u32(b0)));
        const __m128 dw[2] = {_mm_permute_ps(halves, 0x00), _mm_permute_ps(halves, 0xAA)};
        const __m128 dmin[2] = {_mm_permute_ps(halves, 0x55), _mm_permute_ps(halves, 0xFF)};
        for (int g = 0; g * 4 < nb; g++) {
            __m512i dots[4], offsets[4];
            float d[4];
            for (int i = 0; i < 4; i++) {
                dots[i] = offsets[i] = _mm512_setzero_si512();
                d[i] = 0;
                if (4 * g + i >= nb) continue;
                const kiln_q8k_block *a = x + (size_t)(4 * g + i) * stride + blk;
                d[i] = a->d;
                for (int j = 0; j < 8; j++) {
                    const __m512i xs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a->qs + 32 * j)));
                    dots[i] = _mm512_dpwssd_epi32(dots[i], multipliers[j], _mm512_maddubs_epi16(q[j], xs));
                }
                offsets[i] = _mm512_madd_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a->bsums)), minimums);
            }
            const __m512i dot = sum_halves4(dots[0], dots[1], dots[2], dots[3]);
            const __m512i offset = sum_halves4(offsets[0], offsets[1], offsets[2], offsets[3]);
            const __m128 dx = _mm_loadu_ps(d);
            const __m128 dotFloat[2] = {_mm_cvtepi32_ps(_mm512_castsi512_si128(dot)), _mm_cvtepi32_ps(_mm512_extracti32x4_epi32(dot, 1))};
            const __m128 offsetFloat[2] = {_mm_cvtepi32_ps(_mm512_castsi512_si128(offset)),
                                           _mm_cvtepi32_ps(_mm512_extracti32x4_epi32(offset, 1))};
            for (int k = 0; k < 2; k++) {
                acc[g][k] = _mm_fmadd_ps(dotFloat[k], _mm_mul_ps(dw[k], dx), acc[g][k]);
                mins[g][k] = _mm_fmadd_ps(offsetFloat[k], _mm_mul_ps(dmin[k], dx), mins[g][k]);
            }
        }
    }
    for (int g = 0; g * 4 < nb; g++) {
        float out[2][4];
        for (int k = 0; k < 2; k++) _mm_storeu_ps(out[k], _mm_sub_ps(acc[g][k], mins[g][k]));
        for (int i = 0; i < 4 && 4 * g + i < nb; i++) {
            y[(size_t)(4 * g + i) * ys] = out[0][i];
            if (both) y[(size_t)(4 * g + i) * ys + 1] = out[1][i];
        }
    }
}

/// Sixteen activation rows' Q8_K blocks turned sideways for q4k_rows16, one per super-block: quants[k]
/// holds dword k (quants 4k … 4k+3) of rows 0–15 in its lanes, sums[t] the sums of 32-element
/// sub-blocks 2t and 2t + 1 (int16 halves, low first), d the rows' scales. Rows past the batch are
/// zeros. 4 416 bytes.
typedef struct {
    int32_t quants[64][16];
    int32_t sums[4][16];
    float d[16];
} q8k_columns;

/// 16 × 16 dwords transposed in registers: r[i] holds row i; afterwards r[c] holds column c.
KILN_AVX512_INLINE void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int m = 0; m < 8; m++) {
        t[2 * m] = _mm512_unpacklo_epi32(r[2 * m], r[2 * m + 1]);
        t[2 * m + 1] = _mm512_unpackhi_epi32(r[2 * m], r[2 * m + 1]);
    }
    // u[4m + c], 128-bit lane L: rows 4m … 4m+3 at column 4L + c.
    for (int m = 0; m < 4; m++) {
        u[4 * m] = _mm512_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 1] = _mm512_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
        u[4 * m + 2] = _mm512_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
        u[4 * m + 3] = _mm512_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i a = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), b = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
        const __m512i e = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), f = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_i32x4(a, e, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(a, e, 0xDD);
        r[4 + c] = _mm512_shuffle_i32x4(b, f, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(b, f, 0xDD);
    }
}

/// Activation rows 0 ..< nb (≤ 16; row i's blocks at x + i · stride) turned sideways into out[blk].
KILN_AVX512_INLINE void columns_of_rows(const kiln_q8k_block *x, int stride, int nb, int blocks, q8k_columns *out) {
    for (int blk = 0; blk < blocks; blk++) {
        q8k_columns *c = out + blk;
        for (int part = 0; part < 4; part++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < nb ? _mm512_loadu_si512((const void *)((x + (size_t)i * stride + blk)->qs + 64 * part)) : _mm512_setzero_si512();
            transpose16(r);
            for (int k = 0; k < 16; k++) _mm512_store_si512((void *)c->quants[16 * part + k], r[k]);
        }
        for (int i = 0; i < 16; i++) {
            const kiln_q8k_block *a = x + (size_t)i * stride + blk;
            c->d[i] = i < nb ? a->d : 0;
            for (int t = 0; t < 4; t++) {
                const int low = i < nb ? a->bsums[4 * t] + a->bsums[4 * t + 1] : 0;
                const int high = i < nb ? a->bsums[4 * t + 2] + a->bsums[4 * t + 3] : 0;
                c->sums[t][i] = (int32_t)((uint32_t)(uint16_t)low | (uint32_t)high << 16);
            }
        }
    }
}

/// Q4_K weight rows 0 ..< R (R ≤ 4, row k at w + k · row_bytes) against the sixteen activation rows
/// of `columns`, of which the first nb are written: y[i · ys + k]. Each lane holds one activation
/// row, so nothing is reduced across lanes: per super-block and weight row the exact integers
/// I = Σ_j sc_j · Σ q·x (eight dot products of 4 quants each per 32-element sub-block, vpdpbusd
/// with the weight's dword broadcast) and M = Σ_j m_j · (sub-block sum of x), then llama.cpp's
/// acc = fma(I, d_w · d_x, acc) and mins = fma(M, dmin_w · d_x, mins) for all sixteen rows at once.
KILN_AVX512_INLINE void q4k_rows16(const int R, const uint8_t *w, size_t row_bytes, int blocks,
                                   const q8k_columns *columns, float *y, size_t ys, int nb) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m512 acc[4], mins[4];
    for (int k = 0; k < R; k++) acc[k] = mins[k] = _mm512_setzero_ps();
    _Alignas(64) uint8_t decoded[4][256];
    int32_t scales[4][8], minimums[4][4];
    float dw[4], dmin[4];
    for (int blk = 0; blk < blocks; blk++) {
        for (int k = 0; k < R; k++) {
            const uint8_t *b = w + (size_t)k * row_bytes + (size_t)blk * 144;
            for (int j = 0; j < 4; j++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * j));
                _mm256_store_si256((__m256i *)(decoded[k] + 64 * j), _mm256_and_si256(bits, low4));
                _mm256_store_si256((__m256i *)(decoded[k] + 64 * j + 32), _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4));
            }
            uint64_t sc, mn;
            q4k_scales_and_minimums(b, &sc, &mn);
            for (int j = 0; j < 8; j++) scales[k][j] = (int32_t)((sc >> (8 * j)) & 0xFF);
            for (int t = 0; t < 4; t++)
                minimums[k][t] = (int32_t)(((mn >> (16 * t)) & 0xFF) | ((mn >> (16 * t + 8)) & 0xFF) << 16);
            dw[k] = KILN_HALF_F16C(b);
            dmin[k] = KILN_HALF_F16C(b + 2);
        }
        const q8k_columns *c = columns + blk;
        __m512i I[4], M[4];
        for (int k = 0; k < R; k++) I[k] = M[k] = _mm512_setzero_si512();
        // Per 32-element sub-block j, two half sums of 16 products each (|Σ| ≤ 16 · 15 · 127 < 2^15, so
        // each fits the low int16 of its lane) are scaled by sc_j and added with one vpdpwssd apiece,
        // the scale sitting in the low int16 of the broadcast dword and zero in the high one.
        for (int j = 0; j < 8; j++) {
            __m512i half[2][4];
            for (int k = 0; k < R; k++) half[0][k] = half[1][k] = _mm512_setzero_si512();
            for (int q = 0; q < 4; q++)
                for (int h = 0; h < 2; h++) {
                    const __m512i x = _mm512_load_si512((const void *)c->quants[8 * j + 4 * h + q]);
                    for (int k = 0; k < R; k++)
                        half[h][k] = _mm512_dpbusd_epi32(half[h][k], _mm512_set1_epi32(kiln_load_u32(decoded[k] + 32 * j + 16 * h + 4 * q)), x);
                }
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < R; k++) I[k] = _mm512_dpwssd_epi32(I[k], half[h][k], _mm512_set1_epi32(scales[k][j]));
        }
        for (int t = 0; t < 4; t++) {
            const __m512i sums = _mm512_load_si512((const void *)c->sums[t]);
            for (int k = 0; k < R; k++) M[k] = _mm512_dpwssd_epi32(M[k], _mm512_set1_epi32(minimums[k][t]), sums);
        }
        const __m512 dx = _mm512_load_ps(c->d);
        for (int k = 0; k < R; k++) {
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I[k]), _mm512_mul_ps(_mm512_set1_ps(dw[k]), dx), acc[k]);
            mins[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M[k]), _mm512_mul_ps(_mm512_set1_ps(dmin[k]), dx), mins[k]);
        }
    }
    for (int k = 0; k < R; k++) {
        float out[16];
        _mm512_storeu_ps(out, _mm512_sub_ps(acc[k], mins[k]));
        for (int i = 0; i < nb; i++) y[(size_t)i * ys + k] = out[i];
    }
}

#define KILN_PAIR_CASES(BODY)                                                                        \
    switch (nb) {                                                                                    \
    case 1: BODY(1, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 2: BODY(2, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 3: BODY(3, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 4: BODY(4, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 5: BODY(5, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 6: BODY(6, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    case 7: BODY(7, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                        \
    default: BODY(8, w0, w1, blocks, group, blocks, out + r, ys, both, ahead); break;                       \
    }

/// All rows against all activation rows. Q4_K takes sixteen activation rows at a time sideways
/// (q4k_rows16) while eight or more are left; otherwise passes of up to eight activation rows go over
/// the weight rows two at a time (a constant nb per call lets the compiler keep the accumulators in
/// registers).
KILN_AVX512 static void matmul_q8k_avx512(const int type, const uint8_t *w, size_t row_bytes, int rows, int columns,
                                          const kiln_q8k_block *x, int batch, float *y, size_t ys) {
    const int blocks = columns / 256;
    // Without memory for the sideways copy the pair bodies give the same bits.
    q8k_columns *sideways = type == KILN_TYPE_Q4_K && batch >= 8
                                ? kiln_thread_scratch(KILN_SCRATCH_Q8K_COLUMNS, sizeof(q8k_columns) * (size_t)blocks)
                                : 0;
    for (int b = 0; b < batch;) {
        const int left = batch - b;
        if (sideways && left >= 8) {
            const int nb = left < 16 ? left : 16;
            columns_of_rows(x + (size_t)b * blocks, blocks, nb, blocks, sideways);
            for (int r = 0; r < rows; r += 4) {
                const uint8_t *w0 = w + (size_t)r * row_bytes;
                float *out = y + (size_t)b * ys + r;
                switch (rows - r < 4 ? rows - r : 4) {
                case 1: q4k_rows16(1, w0, row_bytes, blocks, sideways, out, ys, nb); break;
                case 2: q4k_rows16(2, w0, row_bytes, blocks, sideways, out, ys, nb); break;
                case 3: q4k_rows16(3, w0, row_bytes, blocks, sideways, out, ys, nb); break;
                default: q4k_rows16(4, w0, row_bytes, blocks, sideways, out, ys, nb); break;
                }
            }
            b += nb;
            continue;
        }
        const int nb = left < ROWS_PER_PASS ? left : ROWS_PER_PASS;
        const kiln_q8k_block *group = x + (size_t)b * blocks;
        float *out = y + (size_t)b * ys;
        for (int r = 0; r < rows; r += 2) {
            const int both = r + 1 < rows;
            const uint8_t *w0 = w + (size_t)r * row_bytes, *w1 = both ? w0 + row_bytes : w0;
            // The same block of the next pair of rows (super-block rows are several KB long).
            const size_t ahead = 2 * row_bytes;
            if (type == KILN_TYPE_Q4_K) {
                KILN_PAIR_CASES(q4k_pair)
            } else {
                KILN_PAIR_CASES(q6k_pair)
            }
        }
        b += nb;
    }
}
#endif

int kiln_matmul_q8k_avx512(int type, const void *weights, size_t row_bytes, int rows, int columns,
                           const kiln_q8k_block *x, int batch, float *y, size_t ys) {
#ifdef KILN_X86
    if (!kiln_avx512_active()) return 0;
    if (type == KILN_TYPE_Q4_K || type == KILN_TYPE_Q6_K) {
        matmul_q8k_avx512(type, (const uint8_t *)weights, row_bytes, rows, columns, x, batch, y, ys);
        return 1;
    }
#else
    (void)type, (void)weights, (void)row_bytes, (void)rows, (void)columns, (void)x, (void)batch, (void)y, (void)ys;
#endif
    return 0;
}
