// AVX-512 (VNNI) bodies of kiln_matmul_q8 for the 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0),
// taken where the CPU has AVX-512 F/BW/VL and VNNI. They give the AVX2 bodies' bits.
//
// Layout: one 512-bit register holds the same block of two consecutive weight rows (r in the low
// 256 bits, r + 1 in the high), and one such register per activation row accumulates; the activation
// row's 32 quants are broadcast to both halves. Every 32-bit lane then holds exactly what lane l of
// the AVX2 body holds for that (weight row, activation row): the integer Σ of the four products
// q[4l … 4l+3] · x[4l … 4l+3], converted to float and accumulated with fma(dot, dw · dx, acc) block by
// block in order; the eight lanes are summed at the end in kiln_hsum8's order and the offsets added
// last. Lane-wise float operations do not depend on the register width, so the bits are the same.
//
// The integer dot takes one vpdpbusd (unsigned × signed bytes) instead of sign/maddubs/madd: signed
// weights q meet the activations biased to unsigned (x + 128, an xor of the sign bit), and the bias
// comes back out exactly through the accumulator's starting value −128 · Σ q per lane, formed once
// per weight block and shared by every activation row. The biased activations are written once per
// pass into a per-thread buffer, so that the xor is not repeated for every pair of weight rows.
// Unsigned weights (Q4_1, Q5_1: 0 … 31) go in as the unsigned operand directly. Q4_0/Q5_0 are
// decoded straight into 512 bits: one shuffle duplicates each row's 16 packed bytes, one shift per
// 128-bit lane picks the nibbles, and Q5_0's fifth bits become a 64-bit mask. Decoding two rows at
// once and sharing each decoded block among up to sixteen activation rows is where the time goes
// down against the AVX2 bodies: per (weight-row pair, activation row, block) what remains is the
// integer dot, the scale's multiply (its activation factor broadcast from memory), the conversion and
// the fused multiply-add. Both row streams are prefetched ahead in software, which a single-row walk
// did not need but two interleaved ones do.
//
// Measured 2026-12-08 with `kiln bench-kernels -t 1 --cpu-time -r 5 --types Q4_0,Q4_1,Q5_0,Q5_1,Q8_0
// --shapes 896x896,4864x896 --batch 64`, two rounds alternating the builds (the other core busy with a
// training job): eight activation rows per pass, with an xor and a shuffled scale per row, ran at
// Q4_0 46–47, Q4_1 48–49, Q5_0 44–46, Q5_1 39–46, Q8_0 48–49 GMAC/s; sixteen rows with the biased
// buffer and broadcast scales at 54–56, 55, 52–55, 52–53 and 56–59. Matrix-vector speed is unchanged.

#include "kiln_units.h"

#ifdef KILN_X86

/// Activation rows one pass over a weight-row pair serves (four kiln_q8x4_block groups).
enum { ROWS_PER_PASS = 16 };

/// The 16 packed bytes at p0 (row r) and p1 (row r + 1) as 64 nibbles: 128-bit lanes
/// [low nibbles of p0, high of p0, low of p1, high of p1], i.e. each row's 32 elements in order.
KILN_AVX512_INLINE __m512i nibbles_of_pair(const uint8_t *p0, const uint8_t *p1) {
    const __m256i packed =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p0)),
                                _mm_loadu_si128((const __m128i *)p1), 1);
    const __m512i wide = _mm512_castsi256_si512(packed);
    const __m512i doubled = _mm512_shuffle_i64x2(wide, wide, 0x50);  // lanes 0, 0, 1, 1
    const __m512i shifts = _mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4);
    return _mm512_and_si512(_mm512_srlv_epi32(doubled, shifts), _mm512_set1_epi8(0x0F));
}

/// The weights of block `blk` of rows r (b0) and r + 1 (b1): signed bytes for Q4_0/Q5_0/Q8_0,
/// unsigned (0 … 31) for Q4_1/Q5_1.
KILN_AVX512_INLINE __m512i pair_quants(const int type, const uint8_t *b0, const uint8_t *b1) {
    switch (type) {
    case KILN_TYPE_Q8_0:
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2))),
                                  _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
    case KILN_TYPE_Q4_0: return _mm512_sub_epi8(nibbles_of_pair(b0 + 2, b1 + 2), _mm512_set1_epi8(8));
    case KILN_TYPE_Q4_1: return nibbles_of_pair(b0 + 4, b1 + 4);
    case KILN_TYPE_Q5_0: {
        // Element j's fifth bit is bit j of qh; where it is clear the value is nibble − 16.
        const __mmask64 clear = _cvtu64_mask64(~((uint64_t)kiln_load_u32(b0 + 2) | (uint64_t)kiln_load_u32(b1 + 2) << 32));
        const __m512i nibbles = nibbles_of_pair(b0 + 6, b1 + 6);
        return _mm512_mask_sub_epi8(nibbles, clear, nibbles, _mm512_set1_epi8(16));
    }
    default: {  // Q5_1
        const __mmask64 set = _cvtu64_mask64((uint64_t)kiln_load_u32(b0 + 4) | (uint64_t)kiln_load_u32(b1 + 4) << 32);
        const __m512i nibbles = nibbles_of_pair(b0 + 8, b1 + 8);
        return _mm512_mask_add_epi8(nibbles, set, nibbles, _mm512_set1_epi8(16));
    }
    }
}

/// Weight rows w0 and w1 (w1 may equal w0 for an odd last row) against activation rows 0 ..< nb,
/// row i's blocks in group i / 4 at x + (i / 4) · groupStride; for signed weights their quants come
/// biased to unsigned from `biased` (row i's block blk at (i · blocks + blk) · 32). Row i's results go
/// to y[i * ys] (row r) and y[i * ys + 1] (row r + 1, when `both`).
KILN_AVX512_INLINE void pair_rows(const int type, const int nb, const uint8_t *w0, const uint8_t *w1, int blocks,
                                  const kiln_q8x4_block *x, size_t groupStride, const uint8_t *biased, float *y,
                                  size_t ys, int both, size_t ahead) {
    const int bb = block_bytes(type);
    const int unsignedWeights = type == KILN_TYPE_Q4_1 || type == KILN_TYPE_Q5_1;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m512i pairIndex = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    __m512 acc[ROWS_PER_PASS];
    __m512 offsets[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};  // per weight row, lanes = activation rows
#pragma unroll
    for (int i = 0; i < nb; i++) acc[i] = _mm512_setzero_ps();
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b0 = w0 + (size_t)blk * bb, *b1 = w1 + (size_t)blk * bb;
        _mm_prefetch((const char *)(b0 + ahead), _MM_HINT_T0);
        _mm_prefetch((const char *)(b1 + ahead), _MM_HINT_T0);
        const __m512i q = pair_quants(type, b0, b1);
        // [d0, m0, d1, m1] (m only for Q4_1/Q5_1, whose d and m are adjacent halves).
        const uint64_t halves = unsignedWeights ? ((uint64_t)kiln_load_u32(b0) | (uint64_t)kiln_load_u32(b1) << 32)
                                                : ((uint64_t)kiln_load_u16(b0) | (uint64_t)kiln_load_u16(b1) << 32);
        const __m128 factors = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)halves));
        const __m512 dwPair = _mm512_permutexvar_ps(pairIndex, _mm512_castps128_ps512(factors));
        const __m512i start =
            unsignedWeights ? _mm512_setzero_si512()
                            : _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q));
#pragma unroll
        for (int i = 0; i < nb; i++) {
            const kiln_q8x4_block *g = x + (size_t)(i / 4) * groupStride + blk;
            const __m512i dot =
                unsignedWeights
                    ? _mm512_dpbusd_epi32(start, q, _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)g->qs[i & 3])))
                    : _mm512_dpbusd_epi32(
                          start, _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(biased + ((size_t)i * blocks + blk) * 32))),
                          q);
            // dw · d of both weight rows against activation row i: the AVX2 body's product.
            const __m512 scale = _mm512_mul_ps(dwPair, _mm512_set1_ps(g->d[i & 3]));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
        }
        if (unsignedWeights) {
            // Lanes 0–15: activation rows 0–15 (each group's four s values in turn; zeros past nb).
            __m512 s = _mm512_zextps128_ps512(_mm_loadu_ps((x + blk)->s));
            if (nb > 4) s = _mm512_insertf32x4(s, _mm_loadu_ps((x + groupStride + blk)->s), 1);
            if (nb > 8) s = _mm512_insertf32x4(s, _mm_loadu_ps((x + 2 * groupStride + blk)->s), 2);
            if (nb > 12) s = _mm512_insertf32x4(s, _mm_loadu_ps((x + 3 * groupStride + blk)->s), 3);
            offsets[0] = _mm512_fmadd_ps(_mm512_set1_ps(_mm_cvtss_f32(_mm_movehdup_ps(factors))), s, offsets[0]);
            offsets[1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_set1_epi32(3), _mm512_castps128_ps512(factors)), s,
                                         offsets[1]);
        }
    }
    // The AVX2 body sums its even and odd accumulators and offsets (the odd ones zero here) first.
    const __m256 zero = _mm256_setzero_ps();
    float off0[ROWS_PER_PASS], off1[ROWS_PER_PASS];
    _mm512_storeu_ps(off0, _mm512_add_ps(offsets[0], _mm512_setzero_ps()));
    _mm512_storeu_ps(off1, _mm512_add_ps(offsets[1], _mm512_setzero_ps()));
#pragma unroll
    for (int i = 0; i < nb; i++) {
        y[(size_t)i * ys] = kiln_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc[i]), zero)) + off0[i];
        if (both) y[(size_t)i * ys + 1] = kiln_hsum8(_mm256_add_ps(_mm512_extractf32x8_ps(acc[i], 1), zero)) + off1[i];
    }
}

/// How far ahead of each row's current block its bytes are prefetched: the same block some rows on
/// (about 5–8 KB ahead), so that many lines of both row streams are in flight. Measured on a
/// single thread streaming 4864 × 1024 matrices from memory (load average 10): Q5_0 matvec 6.8 GB/s
/// without, 9–11 GB/s with 4–8 rows' distance; Q8_0 9.3 and 12.6–13.8 GB/s.
KILN_INLINE size_t prefetch_distance(size_t row_bytes) { return row_bytes <= 1024 ? 8 * row_bytes : 2 * row_bytes; }

/// Activation rows 0 ..< nb of the groups at x (group stride `blocks`) as unsigned quants x + 128
/// (an xor of the sign bit), row i's block blk at out + (i · blocks + blk) · 32.
KILN_AVX512_INLINE void bias_rows(const kiln_q8x4_block *x, int blocks, int nb, uint8_t *out) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int i = 0; i < nb; i++)
        for (int blk = 0; blk < blocks; blk++)
            _mm256_storeu_si256((__m256i *)(out + ((size_t)i * blocks + blk) * 32),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + (size_t)(i / 4) * blocks + blk)->qs[i & 3]), bias));
}

/// All rows against all activation rows: passes of 16, 8 or 4 activation rows (then what is left),
/// and in each, weight rows two at a time. Signed weight types take the pass's activation quants
/// biased once per pass (bias_rows) rather than once per weight-row pair.
KILN_AVX512_INLINE int matmul_type_avx512(const int type, const uint8_t *w, size_t row_bytes, int rows, int columns,
                                           const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
    const int blocks = columns / 32;
    const int unsignedWeights = type == KILN_TYPE_Q4_1 || type == KILN_TYPE_Q5_1;
    uint8_t *biased = unsignedWeights ? 0 : kiln_thread_scratch(KILN_SCRATCH_BIASED_Q8, (size_t)ROWS_PER_PASS * blocks * 32);
    if (!unsignedWeights && !biased) return 0;  // out of memory: the caller takes the AVX2 body
    const size_t ahead = prefetch_distance(row_bytes);
    for (int b = 0; b < batch;) {
        const int left = batch - b;
        const int nb = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left;
        const kiln_q8x4_block *group = x + (size_t)(b / 4) * blocks;
        float *out = y + (size_t)b * ys;
        if (biased) bias_rows(group, blocks, nb, biased);
        for (int r = 0; r < rows; r += 2) {
            const int both = r + 1 < rows;
            const uint8_t *w0 = w + (size_t)r * row_bytes, *w1 = both ? w0 + row_bytes : w0;
            // A constant nb per call lets the compiler keep the accumulators in registers.
            switch (nb) {
            case 1: pair_rows(type, 1, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            case 2: pair_rows(type, 2, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            case 3: pair_rows(type, 3, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            case 4: pair_rows(type, 4, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            case 8: pair_rows(type, 8, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            default: pair_rows(type, 16, w0, w1, blocks, group, blocks, biased, out + r, ys, both, ahead); break;
            }
        }
        b += nb;
    }
    return 1;
}

#define KILN_DEFINE_MATMUL_AVX512(NAME, TYPE)                                                      \
    KILN_AVX512 static int NAME(const uint8_t *w, size_t rb, int rows, int columns,                \
                                const kiln_q8x4_block *x, int batch, float *y, size_t ys) {        \
        return matmul_type_avx512(TYPE, w, rb, rows, columns, x, batch, y, ys);                     \
    }
KILN_DEFINE_MATMUL_AVX512(matmul_q4_0_avx512, KILN_TYPE_Q4_0)
KILN_DEFINE_MATMUL_AVX512(matmul_q4_1_avx512, KILN_TYPE_Q4_1)
KILN_DEFINE_MATMUL_AVX512(matmul_q5_0_avx512, KILN_TYPE_Q5_0)
KILN_DEFINE_MATMUL_AVX512(matmul_q5_1_avx512, KILN_TYPE_Q5_1)
KILN_DEFINE_MATMUL_AVX512(matmul_q8_0_avx512, KILN_TYPE_Q8_0)
#endif

int kiln_matmul_q8_avx512(int type, const void *weights, size_t row_bytes, int rows, int columns,
                          const kiln_q8x4_block *x, int batch, float *y, size_t ys) {
#ifdef KILN_X86
    if (!kiln_avx512_active()) return 0;
    const uint8_t *w = (const uint8_t *)weights;
    switch (type) {
    case KILN_TYPE_Q4_0: return matmul_q4_0_avx512(w, row_bytes, rows, columns, x, batch, y, ys);
    case KILN_TYPE_Q4_1: return matmul_q4_1_avx512(w, row_bytes, rows, columns, x, batch, y, ys);
    case KILN_TYPE_Q5_0: return matmul_q5_0_avx512(w, row_bytes, rows, columns, x, batch, y, ys);
    case KILN_TYPE_Q5_1: return matmul_q5_1_avx512(w, row_bytes, rows, columns, x, batch, y, ys);
    case KILN_TYPE_Q8_0: return matmul_q8_0_avx512(w, row_bytes, rows, columns, x, batch, y, ys);
    }
#else
    (void)type, (void)weights, (void)row_bytes, (void)rows, (void)columns, (void)x, (void)batch, (void)y, (void)ys;
#endif
    return 0;
}
