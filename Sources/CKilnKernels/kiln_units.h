#ifndef KILN_UNITS_H
#define KILN_UNITS_H
// Decoding of quantized weight blocks into 32-element "units" for the integer kernels.
//
// Every supported type is handled as a sequence of units of 32 weights, each matched with one Q8
// activation block: the unit's integer dot product Σ q·x (with Q6_K's two 16-element int8 scales
// folded in) is scaled by dw·d_x, and an offset term mw·s_x is added, where s_x = d_x·Σ x_q.
//   Q4_0: q = nibble − 8 signed, dw = d, mw = 0     Q4_1: q = nibble, dw = d, mw = m
//   Q5_0: q = 5 bits − 16 signed, dw = d, mw = 0    Q5_1: q = 5 bits, dw = d, mw = m
//   Q8_0: q signed, dw = d, mw = 0
// Q4_0 and Q5_0 subtract their offset in the integers, as llama.cpp's AVX2 ggml_vec_dot_q4_0_q8_0 /
// q5_0_q8_0 (and its tinyBLAS prefill) do, so that their products round as llama.cpp's.
//   Q4_K / Q5_K: unit j = sub-block j, dw = d·sc_j, mw = −dmin·m_j
//   Q6_K: q − 32 signed, per-16 scales in the integer dot, dw = d, mw = 0
#include "kiln_kernels.h"
#include "kiln_internal.h"

/// How the integer dot of a unit is formed.
enum { UNIT_UNSIGNED = 0, UNIT_SIGNED = 1, UNIT_SIGNED_SCALED16 = 2 };

KILN_INLINE int units_per_block(int type) {
    return (type == KILN_TYPE_Q4_K || type == KILN_TYPE_Q5_K || type == KILN_TYPE_Q6_K) ? 8 : 1;
}

KILN_INLINE int block_bytes(int type) {
    switch (type) {
    case KILN_TYPE_Q4_0: return 18;
    case KILN_TYPE_Q4_1: return 20;
    case KILN_TYPE_Q5_0: return 22;
    case KILN_TYPE_Q5_1: return 24;
    case KILN_TYPE_Q8_0: return 34;
    case KILN_TYPE_Q4_K: return 144;
    case KILN_TYPE_Q5_K: return 176;
    case KILN_TYPE_Q6_K: return 210;
    default: return 0;
    }
}

KILN_INLINE int unit_kind(int type) {
    if (type == KILN_TYPE_Q8_0 || type == KILN_TYPE_Q4_0 || type == KILN_TYPE_Q5_0) return UNIT_SIGNED;
    if (type == KILN_TYPE_Q6_K) return UNIT_SIGNED_SCALED16;
    return UNIT_UNSIGNED;
}

KILN_INLINE int has_offset(int type) {
    return type != KILN_TYPE_Q8_0 && type != KILN_TYPE_Q6_K && type != KILN_TYPE_Q4_0 && type != KILN_TYPE_Q5_0;
}

/// Q4_K/Q5_K: the 6-bit scale and min of sub-block j from the 12 packed bytes.
KILN_INLINE void k_scale_min(const uint8_t *s, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/// The per-unit float factors of a block: dw[u], mw[u] for u < units_per_block(type).
/// HALF(p) converts the half float at byte pointer p.
#define KILN_BLOCK_FACTORS_BODY(HALF)                                                              \
    switch (type) {                                                                                \
    case KILN_TYPE_Q4_0: case KILN_TYPE_Q5_0: dw[0] = HALF(b); mw[0] = 0; break;                   \
    case KILN_TYPE_Q4_1: case KILN_TYPE_Q5_1: dw[0] = HALF(b); mw[0] = HALF(b + 2); break;         \
    case KILN_TYPE_Q8_0: dw[0] = HALF(b); mw[0] = 0; break;                                        \
    case KILN_TYPE_Q4_K: case KILN_TYPE_Q5_K: {                                                    \
        float d = HALF(b), dmin = HALF(b + 2);                                                     \
        for (int j = 0; j < 8; j++) {                                                              \
            int sc, m;                                                                             \
            k_scale_min(b + 4, j, &sc, &m);                                                        \
            dw[j] = d * (float)sc;                                                                 \
            mw[j] = -dmin * (float)m;                                                              \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    case KILN_TYPE_Q6_K: {                                                                         \
        float d = HALF(b + 208);                                                                   \
        for (int j = 0; j < 8; j++) { dw[j] = d; mw[j] = 0; }                                      \
        break;                                                                                     \
    }                                                                                              \
    }

KILN_INLINE void block_factors(int type, const uint8_t *b, float *dw, float *mw) {
    KILN_BLOCK_FACTORS_BODY(kiln_load_half)
}

/// Portable: the 32 quants of unit u (unsigned values for UNIT_UNSIGNED types, signed otherwise)
/// and, for Q6_K, the two int8 scales of its halves (else 1, 1).
KILN_INLINE void unit_quants_scalar(int type, const uint8_t *b, int u, int *q, int *sc0, int *sc1) {
    *sc0 = 1;
    *sc1 = 1;
    switch (type) {
    case KILN_TYPE_Q4_0: case KILN_TYPE_Q4_1: {
        const uint8_t *qs = b + (type == KILN_TYPE_Q4_0 ? 2 : 4);
        const int offset = type == KILN_TYPE_Q4_0 ? 8 : 0;
        for (int i = 0; i < 16; i++) { q[i] = (qs[i] & 15) - offset; q[i + 16] = (qs[i] >> 4) - offset; }
        break;
    }
    case KILN_TYPE_Q5_0: case KILN_TYPE_Q5_1: {
        int off = type == KILN_TYPE_Q5_0 ? 2 : 4;
        uint32_t qh = kiln_load_u32(b + off);
        const uint8_t *qs = b + off + 4;
        const int offset = type == KILN_TYPE_Q5_0 ? 16 : 0;
        for (int i = 0; i < 16; i++) {
            q[i] = ((qs[i] & 15) | (int)((qh >> i) & 1) << 4) - offset;
            q[i + 16] = ((qs[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) - offset;
        }
        break;
    }
    case KILN_TYPE_Q8_0:
        for (int i = 0; i < 32; i++) q[i] = (int8_t)b[2 + i];
        break;
    case KILN_TYPE_Q4_K: case KILN_TYPE_Q5_K: {
        const uint8_t *qs = b + (type == KILN_TYPE_Q4_K ? 16 : 48) + (u / 2) * 32;
        int shift = (u % 2) * 4;
        for (int i = 0; i < 32; i++) {
            q[i] = (qs[i] >> shift) & 15;
            if (type == KILN_TYPE_Q5_K) q[i] |= ((b[16 + i] >> u) & 1) << 4;
        }
        break;
    }
    case KILN_TYPE_Q6_K: {
        int h = u / 4, quarter = u % 4;
        const uint8_t *ql = b + 64 * h + (quarter % 2) * 32, *qh = b + 128 + 32 * h;
        int nibble_shift = (quarter / 2) * 4, pair_shift = quarter * 2;
        for (int i = 0; i < 32; i++)
            q[i] = (((ql[i] >> nibble_shift) & 15) | (((qh[i] >> pair_shift) & 3) << 4)) - 32;
        *sc0 = (int8_t)b[192 + 2 * u];
        *sc1 = (int8_t)b[192 + 2 * u + 1];
        break;
    }
    }
}

#ifdef KILN_X86
/// The 32 nibbles of 16 bytes as bytes: low nibbles in the low lane, high nibbles in the high lane.
/// The 16 bytes are broadcast to both lanes by the load itself, and one variable shift moves the
/// high lane's nibbles down (2 ALU operations instead of shift, insert and mask).
KILN_AVX2_INLINE __m256i nibbles_of_16(const uint8_t *p) {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    const __m256i shifts = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    return _mm256_and_si256(_mm256_srlv_epi32(both, shifts), _mm256_set1_epi8(0x0F));
}

/// 0x10 in byte i where bit i of `bits` is set.
KILN_AVX2_INLINE __m256i fifth_bits(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

#define KILN_HALF_F16C(p) _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(kiln_load_u16(p))))

KILN_AVX2_INLINE void block_factors_avx2(int type, const uint8_t *b, float *dw, float *mw) {
    KILN_BLOCK_FACTORS_BODY(KILN_HALF_F16C)
}

/// AVX2: the 32 quants of unit u, as unsigned bytes (UNIT_UNSIGNED) or signed bytes.
KILN_AVX2_INLINE __m256i unit_quants_avx2(int type, const uint8_t *b, int u) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    switch (type) {
    case KILN_TYPE_Q4_0: return _mm256_sub_epi8(nibbles_of_16(b + 2), _mm256_set1_epi8(8));
    case KILN_TYPE_Q4_1: return nibbles_of_16(b + 4);
    case KILN_TYPE_Q5_0:
        return _mm256_sub_epi8(_mm256_or_si256(nibbles_of_16(b + 6), fifth_bits(kiln_load_u32(b + 2))),
                               _mm256_set1_epi8(16));
    case KILN_TYPE_Q5_1: return _mm256_or_si256(nibbles_of_16(b + 8), fifth_bits(kiln_load_u32(b + 4)));
    case KILN_TYPE_Q8_0: return _mm256_loadu_si256((const __m256i *)(b + 2));
    case KILN_TYPE_Q4_K: case KILN_TYPE_Q5_K: {
        __m256i v = _mm256_loadu_si256((const __m256i *)(b + (type == KILN_TYPE_Q4_K ? 16 : 48) + (u / 2) * 32));
        __m256i q = _mm256_and_si256(u % 2 ? _mm256_srli_epi16(v, 4) : v, low4);
        if (type == KILN_TYPE_Q5_K) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 16));
            __m256i bit = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(u)), _mm256_set1_epi8(1));
            q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 4));
        }
        return q;
    }
    case KILN_TYPE_Q6_K: {
        int h = u / 4, quarter = u % 4;
        __m256i ql = _mm256_loadu_si256((const __m256i *)(b + 64 * h + (quarter % 2) * 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
        __m256i low = _mm256_and_si256(quarter >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
        __m256i high = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * quarter)), _mm256_set1_epi8(3));
        __m256i q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(32));
    }
    }
    return _mm256_setzero_si256();
}

/// Q6_K: int16 multipliers for madd: the scale of the unit's first 16 elements in the low lane,
/// of its last 16 in the high lane.
KILN_AVX2_INLINE __m256i q6k_unit_scales(const uint8_t *b, int u) {
    return _mm256_set_m128i(_mm_set1_epi16((int8_t)b[192 + 2 * u + 1]), _mm_set1_epi16((int8_t)b[192 + 2 * u]));
}
#endif

#endif
