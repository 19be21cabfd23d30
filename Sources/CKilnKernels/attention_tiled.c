// llama.cpp's tiled flash attention (its CPU path for a step of 64 or more query tokens), for
// reproducing its results: keys in tiles of 64 positions aligned at position 0; per tile, each
// score is a float dot product of the float query with the key (one fused multiply-add per
// element, in element order), the running maximum moves once per tile (accumulator and sum
// rescaled by libm expf), the tile's weights are ggml's vector exp of (score − max), summed eight
// at a time into a double, and the weighted values are accumulated in float, key by key in order.
// With a window W > 0, a query at p sees keys p − W + 1 … p only: the others score −inf, as
// llama.cpp's mask makes them (weight 0, a tile wholly outside skipped).
// A query's result depends only on its own position's keys (and the tile alignment), so queries
// can be grouped in any way; grouping them (up to 64 of one head) lets a key tile be converted
// and transposed once for all of them.
#include "kiln_kernels.h"
#include "kiln_exp.h"
#include <math.h>

#define TILE 64
#define MAX_DIM 256  // Gemma 3 heads are 256 wide; llama.cpp tiles any width that is a multiple of 8

KILN_INLINE float tile_half(uint16_t h) { return kiln_half_to_float_value(h); }

/// The first key tile any of the call's queries sees: tiles wholly before the first query's window
/// add nothing (llama.cpp skips them as wholly masked).
KILN_INLINE int first_tile(int first_position, int window) {
    const int lowest = window > 0 ? first_position - window + 1 : 0;
    return lowest > 0 ? lowest / TILE * TILE : 0;
}

/// Σ of 8 floats as ggml_vec_soft_max_f32 reduces them: (hi + lo), then pairwise, then the last two.
KILN_INLINE float eight_sum_scalar(const float *p) {
    float a[4];
    for (int i = 0; i < 4; i++) a[i] = p[4 + i] + p[i];
    return (a[0] + a[2]) + (a[1] + a[3]);
}

/// One row's softmax step over a tile of scores (−inf where masked): updates M, S and rescales acc;
/// scores are replaced by the weights. Returns 0 when the whole row is masked (weights all zero).
static int tile_softmax_scalar(float *scores, float *m, float *s, float *acc, int dim) {
    float tile_max = -INFINITY;
    for (int t = 0; t < TILE; t++) tile_max = fmaxf(tile_max, scores[t]);
    if (tile_max == -INFINITY) {
        for (int t = 0; t < TILE; t++) scores[t] = 0;
        return 0;
    }
    const float m_new = fmaxf(*m, tile_max);
    if (m_new > *m) {
        const float ms = expf(*m - m_new);
        for (int i = 0; i < dim; i++) acc[i] *= ms;
        *s *= ms;
    }
    *m = m_new;
    double sum = 0;
    for (int t = 0; t < TILE; t++) scores[t] = kiln_silu_expf(scores[t] - m_new);
    for (int t = 0; t < TILE; t += 8) sum += (double)eight_sum_scalar(scores + t);
    *s = (float)((double)*s + sum);
    return 1;
}

void kiln_attention_tiled_scalar(const float *q, size_t q_stride, int rows, int first_position,
                                 const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                                 int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                                 int window) {
    float state[TILE][2];
    float acc[TILE][MAX_DIM];
    float scores[TILE];
    for (int i = 0; i < rows; i++) {
        state[i][0] = -INFINITY;
        state[i][1] = 0;
        for (int d = 0; d < dim; d++) acc[i][d] = 0;
    }
    const int last = first_position + rows - 1;
    for (int start = first_tile(first_position, window); start <= last; start += TILE) {
        for (int i = 0; i < rows; i++) {
            const int position = first_position + i;
            const int lowest = window > 0 ? position - window + 1 : 0;
            for (int t = 0; t < TILE; t++) {
                const int key = start + t;
                if (key > position || key < lowest) { scores[t] = -INFINITY; continue; }
                const uint16_t *k = key_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                float dot = 0;
                for (int d = 0; d < dim; d++) dot = fmaf(q[(size_t)i * q_stride + d], tile_half(k[d]), dot);
                scores[t] = dot * scale;
            }
            if (!tile_softmax_scalar(scores, &state[i][0], &state[i][1], acc[i], dim)) continue;
            for (int t = 0; t < TILE && start + t <= position; t++) {
                const int key = start + t;
                if (key < lowest) continue;  // weight 0: the accumulator would not change
                const uint16_t *v = value_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                for (int d = 0; d < dim; d++) acc[i][d] = fmaf(tile_half(v[d]), scores[t], acc[i][d]);
            }
        }
    }
    for (int i = 0; i < rows; i++) {
        const float inverse = state[i][1] == 0 ? 0.0f : 1.0f / state[i][1];
        for (int d = 0; d < dim; d++) out[(size_t)i * out_stride + d] = acc[i][d] * inverse;
    }
}

#ifdef KILN_X86
/// dim a multiple of 8, at most MAX_DIM (checked by the caller).
KILN_AVX2 static void tiled_avx2(const float *q, size_t q_stride, int rows, int first_position,
                                 const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                                 int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                                 int window) {
    float keys_t[MAX_DIM][TILE];      // the key tile transposed: keys_t[d][t]
    float values[TILE][MAX_DIM];
    float state[TILE][2];
    float acc[TILE][MAX_DIM];
    float scores[TILE];
    for (int i = 0; i < rows; i++) {
        state[i][0] = -INFINITY;
        state[i][1] = 0;
        for (int d = 0; d < dim; d++) acc[i][d] = 0;
    }
    const int lanes = dim / 8;
    const int last = first_position + rows - 1;
    for (int start = first_tile(first_position, window); start <= last; start += TILE) {
        const int count = last - start + 1 < TILE ? last - start + 1 : TILE;
        for (int t = 0; t < TILE; t++) {
            if (t < count) {
                const int key = start + t;
                const uint16_t *k = key_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                const uint16_t *v = value_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                for (int l = 0; l < lanes; l++) {
                    float kf[8];
                    _mm256_storeu_ps(kf, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + 8 * l))));
                    for (int j = 0; j < 8; j++) keys_t[8 * l + j][t] = kf[j];
                    _mm256_storeu_ps(values[t] + 8 * l, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * l))));
                }
            } else {
                for (int d = 0; d < dim; d++) keys_t[d][t] = 0;
            }
        }
        const __m256 sv = _mm256_set1_ps(scale);
        for (int i = 0; i < rows; i++) {
            const int position = first_position + i;
            if (position < start) continue;  // the whole tile is masked for this row
            // Keys before `lowest` (the window's first) are masked too; below this tile: all of it.
            const int lowest = window > 0 ? position - window + 1 : 0;
            if (lowest >= start + TILE) continue;
            const int skipped = lowest > start ? lowest - start : 0;
            const float *qi = q + (size_t)i * q_stride;
            // Scores of the 64 keys, eight per vector: one in-order chain of dim FMAs per key.
            __m256 dots[8];
            for (int g = 0; g < 8; g++) dots[g] = _mm256_setzero_ps();
            for (int d = 0; d < dim; d++) {
                const __m256 qd = _mm256_set1_ps(qi[d]);
                for (int g = 0; g < 8; g++) dots[g] = _mm256_fmadd_ps(_mm256_loadu_ps(keys_t[d] + 8 * g), qd, dots[g]);
            }
            const int valid = position - start + 1 < TILE ? position - start + 1 : TILE;
            __m256 maxima = _mm256_set1_ps(-INFINITY);
            for (int g = 0; g < 8; g++) {
                __m256 sc = _mm256_mul_ps(dots[g], sv);
                const __m256i index = _mm256_add_epi32(_mm256_set1_epi32(8 * g), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(valid - 1)),
                                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(skipped), index));
                const __m256 masked = _mm256_castsi256_ps(outside);
                sc = _mm256_blendv_ps(sc, _mm256_set1_ps(-INFINITY), masked);
                dots[g] = sc;
                maxima = _mm256_max_ps(maxima, sc);
            }
            const float tile_max = kiln_hmax8(maxima);
            float *m = &state[i][0], *s = &state[i][1];
            const float m_new = fmaxf(*m, tile_max);
            if (m_new > *m) {
                const float ms = expf(*m - m_new);
                const __m256 mv = _mm256_set1_ps(ms);
                for (int l = 0; l < lanes; l++) _mm256_storeu_ps(acc[i] + 8 * l, _mm256_mul_ps(_mm256_loadu_ps(acc[i] + 8 * l), mv));
                *s *= ms;
            }
            *m = m_new;
            const __m256 mb = _mm256_set1_ps(m_new);
            double sum = 0;
            for (int g = 0; g < 8; g++) {
                const __m256 p = kiln_silu_exp8(_mm256_sub_ps(dots[g], mb));
                _mm256_storeu_ps(scores + 8 * g, p);
                sum += (double)kiln_hsum8(p);
            }
            *s = (float)((double)*s + sum);
            // Weighted values, key by key in order (zero weights leave the accumulator unchanged).
            __m256 a[MAX_DIM / 8];
            for (int l = 0; l < lanes; l++) a[l] = _mm256_loadu_ps(acc[i] + 8 * l);
            for (int t = skipped; t < valid; t++) {
                const __m256 p = _mm256_set1_ps(scores[t]);
                for (int l = 0; l < lanes; l++) a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(values[t] + 8 * l), p, a[l]);
            }
            for (int l = 0; l < lanes; l++) _mm256_storeu_ps(acc[i] + 8 * l, a[l]);
        }
    }
    for (int i = 0; i < rows; i++) {
        const float inverse = state[i][1] == 0 ? 0.0f : 1.0f / state[i][1];
        const __m256 iv = _mm256_set1_ps(inverse);
        for (int l = 0; l < lanes; l++)
            _mm256_storeu_ps(out + (size_t)i * out_stride + 8 * l, _mm256_mul_ps(_mm256_loadu_ps(acc[i] + 8 * l), iv));
    }
}

/// tiled_avx512's weighted values for key t at a group's edge: only the rows whose range holds t
/// take it (merge-masked), so every other row's sums stay exactly as they are.
KILN_AVX512_INLINE void edge_key(__m512 a[4][4], const float *value, float scores[4][TILE], int t, int nr, int width,
                                 const int *from, const int *to) {
    for (int r = 0; r < nr; r++) {
        const __mmask16 take = t >= from[r] && t < to[r] ? 0xFFFF : 0;
        for (int l = 0; l < width; l++)
            a[r][l] = _mm512_mask3_fmadd_ps(_mm512_loadu_ps(value + 16 * l), _mm512_set1_ps(scores[r][t]), a[r][l], take);
    }
}

/// tiled_avx2 four query rows at a time, 16 keys or dimensions per instruction: each key vector
/// loaded serves four rows' scores and each value vector four rows' sums, which the one-row body
/// spends a load per FMA on. Every score is still one in-order FMA chain over the dimensions and
/// every output element one in-order chain over the keys, with the exponentials, their double sum and
/// the rescaling as in tiled_avx2, so the bits are its (a row's sums take only its own keys).
KILN_AVX512 static void tiled_avx512(const float *q, size_t q_stride, int rows, int first_position,
                                     const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                                     int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                                     int window) {
    float keys_t[MAX_DIM][TILE];  // the key tile transposed: keys_t[d][t]
    float values[TILE][MAX_DIM];
    float state[TILE][2];
    float acc[TILE][MAX_DIM];
    float scores[4][TILE];
    for (int i = 0; i < rows; i++) {
        state[i][0] = -INFINITY;
        state[i][1] = 0;
        for (int d = 0; d < dim; d++) acc[i][d] = 0;
    }
    const int lanes = dim / 8;
    const int last = first_position + rows - 1;
    for (int start = first_tile(first_position, window); start <= last; start += TILE) {
        const int count = last - start + 1 < TILE ? last - start + 1 : TILE;
        for (int t = 0; t < TILE; t++) {
            if (t < count) {
                const int key = start + t;
                const uint16_t *k = key_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                const uint16_t *v = value_blocks[key / block_size] + (size_t)(key % block_size) * stride;
                for (int l = 0; l < lanes; l++) {
                    float kf[8];
                    _mm256_storeu_ps(kf, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + 8 * l))));
                    for (int j = 0; j < 8; j++) keys_t[8 * l + j][t] = kf[j];
                    _mm256_storeu_ps(values[t] + 8 * l, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * l))));
                }
            } else {
                for (int d = 0; d < dim; d++) keys_t[d][t] = 0;
            }
        }
        for (int i0 = 0; i0 < rows; i0 += 4) {
            const int nr = rows - i0 < 4 ? rows - i0 : 4;
            if (first_position + i0 + nr - 1 < start) continue;  // the whole tile is masked for these rows
            __m512 dots[4][4];
            for (int r = 0; r < 4; r++)
                for (int g = 0; g < 4; g++) dots[r][g] = _mm512_setzero_ps();
            const float *q0 = q + (size_t)i0 * q_stride;
            const size_t q1 = nr > 1 ? q_stride : 0, q2 = nr > 2 ? 2 * q_stride : 0, q3 = nr > 3 ? 3 * q_stride : 0;
            for (int d = 0; d < dim; d++) {
                const __m512 k0 = _mm512_loadu_ps(keys_t[d]), k1 = _mm512_loadu_ps(keys_t[d] + 16);
                const __m512 k2 = _mm512_loadu_ps(keys_t[d] + 32), k3 = _mm512_loadu_ps(keys_t[d] + 48);
                const __m512 qd[4] = {_mm512_set1_ps(q0[d]), _mm512_set1_ps(q0[q1 + d]), _mm512_set1_ps(q0[q2 + d]),
                                      _mm512_set1_ps(q0[q3 + d])};
                for (int r = 0; r < 4; r++) {
                    dots[r][0] = _mm512_fmadd_ps(k0, qd[r], dots[r][0]);
                    dots[r][1] = _mm512_fmadd_ps(k1, qd[r], dots[r][1]);
                    dots[r][2] = _mm512_fmadd_ps(k2, qd[r], dots[r][2]);
                    dots[r][3] = _mm512_fmadd_ps(k3, qd[r], dots[r][3]);
                }
            }
            int lo = TILE, hi = 0, from[4] = {0, 0, 0, 0}, to[4] = {0, 0, 0, 0};
            for (int r = 0; r < nr; r++) {
                const int i = i0 + r, position = first_position + i;
                const int lowest = window > 0 ? position - window + 1 : 0;
                if (position < start || lowest >= start + TILE) continue;
                const int skipped = lowest > start ? lowest - start : 0;
                const int valid = position - start + 1 < TILE ? position - start + 1 : TILE;
                from[r] = skipped;
                to[r] = valid;
                if (skipped < lo) lo = skipped;
                if (valid > hi) hi = valid;
                // tiled_avx2's softmax step on this row's 64 scores, eight at a time.
                __m256 sc[8];
                __m256 maxima = _mm256_set1_ps(-INFINITY);
                for (int g = 0; g < 8; g++) {
                    const __m256 dot = (g & 1) ? _mm512_extractf32x8_ps(dots[r][g / 2], 1) : _mm512_castps512_ps256(dots[r][g / 2]);
                    __m256 v = _mm256_mul_ps(dot, _mm256_set1_ps(scale));
                    const __m256i index = _mm256_add_epi32(_mm256_set1_epi32(8 * g), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                    const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(valid - 1)),
                                                            _mm256_cmpgt_epi32(_mm256_set1_epi32(skipped), index));
                    v = _mm256_blendv_ps(v, _mm256_set1_ps(-INFINITY), _mm256_castsi256_ps(outside));
                    sc[g] = v;
                    maxima = _mm256_max_ps(maxima, v);
                }
                const float tile_max = kiln_hmax8(maxima);
                float *m = &state[i][0], *s = &state[i][1];
                const float m_new = fmaxf(*m, tile_max);
                if (m_new > *m) {
                    const float ms = expf(*m - m_new);
                    const __m256 mv = _mm256_set1_ps(ms);
                    for (int l = 0; l < lanes; l++) _mm256_storeu_ps(acc[i] + 8 * l, _mm256_mul_ps(_mm256_loadu_ps(acc[i] + 8 * l), mv));
                    *s *= ms;
                }
                *m = m_new;
                const __m256 mb = _mm256_set1_ps(m_new);
                double sum = 0;
                for (int g = 0; g < 8; g++) {
                    const __m256 p = kiln_silu_exp8(_mm256_sub_ps(sc[g], mb));
                    _mm256_storeu_ps(scores[r] + 8 * g, p);
                    sum += (double)kiln_hsum8(p);
                }
                *s = (float)((double)*s + sum);
            }
            // Weighted values: 64 dimensions of four rows at a time, keys in order.
            int common_from = 0, common_to = TILE;
            for (int r = 0; r < nr; r++) {
                if (from[r] > common_from) common_from = from[r];
                if (to[r] < common_to) common_to = to[r];
            }
            for (int c = 0; c < dim; c += 64) {
                const int width = dim - c < 64 ? (dim - c) / 16 : 4;
                __m512 a[4][4];
                for (int r = 0; r < nr; r++)
                    for (int l = 0; l < width; l++) a[r][l] = _mm512_loadu_ps(acc[i0 + r] + c + 16 * l);
                // Keys every row of the group takes go unmasked; the few at the edges (consecutive rows'
                // ranges differ by a key or so) are merge-masked per row, never multiplied by 0.
                const int middle_from = common_from < common_to ? common_from : hi;
                const int middle_to = common_from < common_to ? common_to : hi;
                for (int t = lo; t < middle_from; t++) edge_key(a, values[t] + c, scores, t, nr, width, from, to);
                for (int t = middle_from; t < middle_to; t++) {
                    for (int l = 0; l < width; l++) {
                        const __m512 v = _mm512_loadu_ps(values[t] + c + 16 * l);
                        for (int r = 0; r < nr; r++) a[r][l] = _mm512_fmadd_ps(v, _mm512_set1_ps(scores[r][t]), a[r][l]);
                    }
                }
                for (int t = middle_to; t < hi; t++) edge_key(a, values[t] + c, scores, t, nr, width, from, to);
                for (int r = 0; r < nr; r++)
                    for (int l = 0; l < width; l++) _mm512_storeu_ps(acc[i0 + r] + c + 16 * l, a[r][l]);
            }
        }
    }
    for (int i = 0; i < rows; i++) {
        const float inverse = state[i][1] == 0 ? 0.0f : 1.0f / state[i][1];
        const __m256 iv = _mm256_set1_ps(inverse);
        for (int l = 0; l < lanes; l++)
            _mm256_storeu_ps(out + (size_t)i * out_stride + 8 * l, _mm256_mul_ps(_mm256_loadu_ps(acc[i] + 8 * l), iv));
    }
}
#endif

int kiln_attention_tiled_supports(int dim) { return dim > 0 && dim <= MAX_DIM; }

void kiln_attention_tiled(const float *q, size_t q_stride, int rows, int first_position,
                          const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                          int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                          int window) {
    if (rows <= 0 || rows > TILE || dim <= 0 || dim > MAX_DIM) return;
#ifdef KILN_X86
    if (kiln_avx512_active() && dim % 16 == 0) {
        tiled_avx512(q, q_stride, rows, first_position, key_blocks, value_blocks, block_size, stride, dim, scale,
                     out, out_stride, window);
        return;
    }
    if (kiln_simd_active() && dim % 8 == 0) {
        tiled_avx2(q, q_stride, rows, first_position, key_blocks, value_blocks, block_size, stride, dim, scale,
                   out, out_stride, window);
        return;
    }
#endif
    kiln_attention_tiled_scalar(q, q_stride, rows, first_position, key_blocks, value_blocks, block_size, stride, dim,
                                scale, out, out_stride, window);
}

void kiln_attention_merge(float *into, const float *from, int dim) {
    // As ggml's reduction of split-KV partials: skip an empty part; the new maximum; both sides
    // rescaled by libm expf; acc = fma(acc, scale_old, part · scale_new), likewise the sum.
    if (from[1] == 0.0f) return;
    const float m_new = fmaxf(into[0], from[0]);
    const float scale_old = expf(into[0] - m_new), scale_new = expf(from[0] - m_new);
    for (int i = 0; i < dim; i++) into[2 + i] = fmaf(into[2 + i], scale_old, from[2 + i] * scale_new);
    into[1] = fmaf(into[1], scale_old, from[1] * scale_new);
    into[0] = m_new;
}
