// K-quant weights (Q4_K, Q6_K) × activations quantized to llama.cpp's Q8_K (one float scale per 256
// values, and the sums of each 16), with the float operations llama.cpp's CPU backend (x86-64 AVX2)
// uses for each type, so that the products have its bits:
//
// - Q4_K: llama.cpp repacks these weights eight rows at a time (its CPU_REPACK buffer) and multiplies
//   them with ggml_gemv/gemm_q4_K_8x8_q8_K, which per row and super-block form the whole integer dot
//   I = Σ_j sc_j · Σ q·x and the minimums' M = Σ_j m_j · bsum_j, and accumulate
//   acc = fma(float(I), d_w·d_x, acc), mins = fma(float(M), dmin_w·d_x, mins); the result is acc − mins.
// - Q6_K (not repacked on x86): ggml_vec_dot_q6_K_q8_K reduces a super-block to eight int32 lanes,
//   lane k holding the elements 4k … 4k+3 of every 32-element chunk times its 16-element halves'
//   int8 scales, less 32·(bsum_2k·sc_2k + bsum_2k+1·sc_2k+1); each lane is accumulated with
//   fma(float(lane), d_x·d_w, acc) and the eight summed at the end (halves, pairs, the last two).
//
// The scalar body forms the same integers and the same float operations, so it gives the AVX2
// body's bits.
#include "kiln_kernels.h"
#include "kiln_internal.h"
#include "kiln_units.h"

#include <math.h>

int kiln_matmul_q8k_supports(int type) { return type == KILN_TYPE_Q4_K || type == KILN_TYPE_Q6_K; }

void kiln_quantize_q8k_scalar(const float *x, size_t x_stride, int rows, int columns, kiln_q8k_block *out) {
    const int blocks = columns / 256;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * x_stride;
        for (int b = 0; b < blocks; b++) {
            const float *v = row + 256 * b;
            kiln_q8k_block *y = out + (size_t)r * blocks + b;
            float max = 0, amax = 0;
            for (int j = 0; j < 256; j++) {
                const float a = fabsf(v[j]);
                if (a > amax) { amax = a; max = v[j]; }
            }
            if (amax == 0) {
                memset(y, 0, sizeof *y);
                continue;
            }
            const float iscale = -127.f / max;
            for (int j = 0; j < 256; j++) {
                const int q = (int)nearbyintf(iscale * v[j]);
                y->qs[j] = (int8_t)(q < 127 ? q : 127);
            }
            for (int j = 0; j < 16; j++) {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += y->qs[16 * j + i];
                y->bsums[j] = (int16_t)sum;
            }
            y->d = 1 / iscale;
        }
    }
}

#ifdef KILN_X86
/// The scalar body's rule, eight values at a time: the same largest magnitude (the first of equal
/// ones sets the sign), the same products iscale · x rounded to nearest even, the same sums.
KILN_AVX2 static void quantize_q8k_avx2(const float *x, size_t x_stride, int rows, int columns, kiln_q8k_block *out) {
    const int blocks = columns / 256;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * x_stride;
        for (int b = 0; b < blocks; b++) {
            const float *v = row + 256 * b;
            kiln_q8k_block *y = out + (size_t)r * blocks + b;
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(v + j)));
            const float amax = kiln_hmax8(m);
            if (amax == 0) {
                memset(y, 0, sizeof *y);
                continue;
            }
            float max = 0;
            const __m256 target = _mm256_set1_ps(amax);
            for (int j = 0; j < 256; j += 8) {
                const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(v + j)), target, _CMP_EQ_OQ));
                if (hits) {
                    max = v[j + __builtin_ctz((unsigned)hits)];
                    break;
                }
            }
            const float iscale = -127.f / max;
            const __m256 scale = _mm256_set1_ps(iscale);
            const __m256i cap = _mm256_set1_epi32(127);
            __m128i sums[4];
            for (int g = 0; g < 256; g += 64) {
                __m256i q[8];
                for (int k = 0; k < 8; k++)
                    q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(scale, _mm256_loadu_ps(v + g + 8 * k))), cap);
                for (int k = 0; k < 8; k += 4) {
                    const __m256i p01 = _mm256_packs_epi32(q[k], q[k + 1]), p23 = _mm256_packs_epi32(q[k + 2], q[k + 3]);
                    _mm256_storeu_si256((__m256i *)(y->qs + g + 8 * k),
                                        _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), order));
                }
                // Sums of each 16: the pairs (q0 + q1), (q2 + q3), … reduced across lanes by hadds.
                const __m256i s01 = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
                const __m256i s23 = _mm256_hadd_epi32(_mm256_add_epi32(q[4], q[5]), _mm256_add_epi32(q[6], q[7]));
                const __m256i s = _mm256_hadd_epi32(s01, s23);
                sums[g / 64] = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            }
            _mm_storeu_si128((__m128i *)y->bsums, _mm_packs_epi32(sums[0], sums[1]));
            _mm_storeu_si128((__m128i *)(y->bsums + 8), _mm_packs_epi32(sums[2], sums[3]));
            y->d = 1 / iscale;
        }
    }
}
#endif

void kiln_quantize_q8k(const float *x, size_t x_stride, int rows, int columns, kiln_q8k_block *out) {
#ifdef KILN_X86
    if (kiln_simd_active()) {
        quantize_q8k_avx2(x, x_stride, rows, columns, out);
        return;
    }
#endif
    kiln_quantize_q8k_scalar(x, x_stride, rows, columns, out);
}

/// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)): the order of llama.cpp's hsum_float_8.
static float sum8(const float *l) {
    const float a0 = l[0] + l[4], a1 = l[1] + l[5], a2 = l[2] + l[6], a3 = l[3] + l[7];
    return (a0 + a2) + (a1 + a3);
}

/// The decoded weights of a super-block (Q4_K: 0…15; Q6_K: 0…63, unsigned), element order.
static void decode_block(int type, const uint8_t *b, int *q) {
    if (type == KILN_TYPE_Q4_K) {
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 32; i++) {
                q[64 * j + i] = b[16 + 32 * j + i] & 15;
                q[64 * j + 32 + i] = b[16 + 32 * j + i] >> 4;
            }
    } else {
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
            for (int l = 0; l < 32; l++) {
                q[128 * h + l] = (ql[l] & 15) | ((qh[l] & 3) << 4);
                q[128 * h + 32 + l] = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
                q[128 * h + 64 + l] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                q[128 * h + 96 + l] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
            }
        }
    }
}

static float dot_row_scalar(int type, const uint8_t *row, int blocks, const kiln_q8k_block *x) {
    float acc[8] = {0}, mins[4] = {0};
    int q[256];
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b = row + (size_t)blk * (type == KILN_TYPE_Q4_K ? 144 : 210);
        const kiln_q8k_block *a = x + blk;
        decode_block(type, b, q);
        int lanes[8] = {0};
        if (type == KILN_TYPE_Q4_K) {
            int sc[8], m[8], dot = 0, offsets = 0;
            for (int j = 0; j < 8; j++) k_scale_min(b + 4, j, &sc[j], &m[j]);
            for (int j = 0; j < 8; j++) {
                int chunk = 0;
                for (int i = 0; i < 32; i++) chunk += q[32 * j + i] * a->qs[32 * j + i];
                dot += sc[j] * chunk;
                offsets += m[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
            }
            acc[0] = fmaf((float)dot, kiln_load_half(b) * a->d, acc[0]);
            mins[0] = fmaf((float)offsets, kiln_load_half(b + 2) * a->d, mins[0]);
        } else {
            const float d = a->d * kiln_load_half(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int chunk = 0; chunk < 8; chunk++)
                for (int k = 0; k < 8; k++) {
                    int dot = 0;
                    for (int t = 0; t < 4; t++) dot += q[32 * chunk + 4 * k + t] * a->qs[32 * chunk + 4 * k + t];
                    lanes[k] += sc[2 * chunk + k / 4] * dot;
                }
            for (int k = 0; k < 8; k++) {
                const int offset = 32 * (a->bsums[2 * k] * sc[2 * k] + a->bsums[2 * k + 1] * sc[2 * k + 1]);
                acc[k] = fmaf(d, (float)(lanes[k] - offset), acc[k]);
            }
        }
    }
    return type == KILN_TYPE_Q4_K ? acc[0] - mins[0] : sum8(acc);
}

void kiln_matmul_q8k_scalar(int type, const void *weights, size_t row_bytes, int rows, int columns,
                            const kiln_q8k_block *x, int batch, float *y, size_t ys) {
    if (!kiln_matmul_q8k_supports(type)) return;
    const int blocks = columns / 256;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++)
            y[(size_t)b * ys + r] =
                dot_row_scalar(type, (const uint8_t *)weights + (size_t)r * row_bytes, blocks, x + (size_t)b * blocks);
}

#ifdef KILN_X86
KILN_AVX2_INLINE float hsum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/// Sum of eight int32 lanes (exact).
KILN_AVX2_INLINE int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1)));
}

/// One Q4_K weight row against `nb` (1…4) activation rows (row i's blocks at x + i · stride): each
/// block's weights and scales are decoded once for all of them; per row the operations are those
/// of llama.cpp's repacked gemv.
KILN_AVX2_INLINE void q4k_rows(const uint8_t *row, int blocks, const kiln_q8k_block *x, int stride, int nb,
                               float *out) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    float acc[4] = {0, 0, 0, 0}, mins[4] = {0, 0, 0, 0};
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b = row + (size_t)blk * 144;
        int16_t sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            int s, mm;
            k_scale_min(b + 4, j, &s, &mm);
            sc[j] = (int16_t)s;
            m[j] = (int16_t)mm;
        }
        const __m128i mins_vector = _mm_loadu_si128((const __m128i *)m);
        __m256i ql[4], qh[4], scale_l[4], scale_h[4];
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * j));
            ql[j] = _mm256_and_si256(bits, low4);
            qh[j] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
            scale_l[j] = _mm256_set1_epi16(sc[2 * j]);
            scale_h[j] = _mm256_set1_epi16(sc[2 * j + 1]);
        }
        const float dw = KILN_HALF_F16C(b), dminw = KILN_HALF_F16C(b + 2);
        for (int r = 0; r < nb; r++) {
            const kiln_q8k_block *a = x + (size_t)r * stride + blk;
            const __m256i bsums = _mm256_loadu_si256((const __m256i *)a->bsums);
            const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
            const __m128i offsets = _mm_madd_epi16(mins_vector, pairs);
            __m256i sum = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                const __m256i xl = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j));
                const __m256i xh = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j + 32));
                const __m256i pl = _mm256_madd_epi16(scale_l[j], _mm256_maddubs_epi16(ql[j], xl));
                const __m256i ph = _mm256_madd_epi16(scale_h[j], _mm256_maddubs_epi16(qh[j], xh));
                sum = _mm256_add_epi32(sum, _mm256_add_epi32(pl, ph));
            }
            const __m128i o = _mm_add_epi32(offsets, _mm_shuffle_epi32(offsets, 0x4E));
            const int offset = _mm_cvtsi128_si32(_mm_add_epi32(o, _mm_shuffle_epi32(o, 0xB1)));
            acc[r] = fmaf((float)hsum_i32(sum), dw * a->d, acc[r]);
            mins[r] = fmaf((float)offset, dminw * a->d, mins[r]);
        }
    }
    for (int r = 0; r < nb; r++) out[r] = acc[r] - mins[r];
}

/// One Q6_K weight row against `nb` (1…4) activation rows, as q4k_rows; per row the operations of
/// ggml_vec_dot_q6_K_q8_K.
KILN_AVX2_INLINE void q6k_rows(const uint8_t *row, int blocks, const kiln_q8k_block *x, int stride, int nb,
                               float *out) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(3);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int blk = 0; blk < blocks; blk++) {
        const uint8_t *b = row + (size_t)blk * 210;
        const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 192)));
        __m256i q[8], multipliers[8];
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            q[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
        }
        for (int chunk = 0; chunk < 8; chunk++)
            multipliers[chunk] = _mm256_set_m128i(_mm_set1_epi16((int8_t)b[192 + 2 * chunk + 1]),
                                                  _mm_set1_epi16((int8_t)b[192 + 2 * chunk]));
        const float dw = KILN_HALF_F16C(b + 208);
        for (int r = 0; r < nb; r++) {
            const kiln_q8k_block *a = x + (size_t)r * stride + blk;
            const __m256i offsets =
                _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), scales16), 5);
            __m256i sum = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                __m256i p[4];
                for (int c = 0; c < 4; c++) {
                    const __m256i xs = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * (4 * h + c)));
                    p[c] = _mm256_madd_epi16(multipliers[4 * h + c], _mm256_maddubs_epi16(q[4 * h + c], xs));
                }
                sum = _mm256_add_epi32(sum, _mm256_add_epi32(p[0], p[1]));
                sum = _mm256_add_epi32(sum, _mm256_add_epi32(p[2], p[3]));
            }
            sum = _mm256_sub_epi32(sum, offsets);
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * dw), _mm256_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < nb; r++) out[r] = hsum_lanes(acc[r]);
}

/// Activation rows in groups of four: each weight row is decoded once per group.
KILN_AVX2 static void matmul_q8k_avx2(int type, const uint8_t *w, size_t row_bytes, int rows, int columns,
                                      const kiln_q8k_block *x, int batch, float *y, size_t ys) {
    const int blocks = columns / 256;
    float out[4];
    for (int b = 0; b < batch; b += 4) {
        const int nb = batch - b < 4 ? batch - b : 4;
        const kiln_q8k_block *group = x + (size_t)b * blocks;
        for (int r = 0; r < rows; r++) {
            if (type == KILN_TYPE_Q4_K) {
                q4k_rows(w + (size_t)r * row_bytes, blocks, group, blocks, nb, out);
            } else {
                q6k_rows(w + (size_t)r * row_bytes, blocks, group, blocks, nb, out);
            }
            for (int i = 0; i < nb; i++) y[(size_t)(b + i) * ys + r] = out[i];
        }
    }
}
#endif

void kiln_matmul_q8k(int type, const void *weights, size_t row_bytes, int rows, int columns,
                     const kiln_q8k_block *x, int batch, float *y, size_t ys) {
    if (kiln_matmul_q8k_avx512(type, weights, row_bytes, rows, columns, x, batch, y, ys)) return;
    kiln_matmul_q8k_avx2(type, weights, row_bytes, rows, columns, x, batch, y, ys);
}

void kiln_matmul_q8k_avx2(int type, const void *weights, size_t row_bytes, int rows, int columns,
                          const kiln_q8k_block *x, int batch, float *y, size_t ys) {
#ifdef KILN_X86
    if (kiln_simd_active() && kiln_matmul_q8k_supports(type)) {
        matmul_q8k_avx2(type, (const uint8_t *)weights, row_bytes, rows, columns, x, batch, y, ys);
        return;
    }
#endif
    kiln_matmul_q8k_scalar(type, weights, row_bytes, rows, columns, x, batch, y, ys);
}
