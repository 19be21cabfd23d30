// Attention for heads of at most 8 dimensions (the tiny test pipelines' 4-wide heads), with keys
// in SIMD lanes: a product over a 4-deep head is too short for the packed GEMM to pay for its
// packing, so scores, softmax and the weighted sum of values run fused over a pair of query rows,
// each load of a transposed key or value vector serving both rows.
#include "kiln_kernels.h"
#include "kiln_internal.h"
#include "kiln_exp.h"

enum { SMALL_ROWS = 2 };

void kiln_attention_small_head_scalar(const float *q, size_t q_stride, int rows, const float *keys_t,
                                      const float *values_t, size_t padded, int keys, int dim, float scale,
                                      int first_visible, float *scores, float *out, size_t out_stride) {
    for (int r = 0; r < rows; r++) {
        const int visible = first_visible < 0 ? keys : (first_visible + r < keys ? first_visible + r : keys);
        float *row = scores;
        float maximum = -INFINITY, sum = 0;
        for (int j = 0; j < visible; j++) {
            float s = 0;
            for (int d = 0; d < dim; d++) s += q[(size_t)r * q_stride + d] * keys_t[(size_t)d * padded + j];
            row[j] = s;
            maximum = fmaxf(maximum, s);
        }
        for (int j = 0; j < visible; j++) { row[j] = kiln_expf(scale * (row[j] - maximum)); sum += row[j]; }
        for (int d = 0; d < dim; d++) {
            float total = 0;
            for (int j = 0; j < visible; j++) total += row[j] * values_t[(size_t)d * padded + j];
            out[(size_t)r * out_stride + d] = total / sum;
        }
    }
}

#ifdef KILN_X86
/// One or two rows (nr) of a head of DIM ≤ 8 dimensions; DIM is a constant in each instance, so
/// the loops over it unroll and the accumulators stay in registers.
KILN_AVX2_INLINE void small_rows(const int DIM, const int nr, const float *q, size_t q_stride, const float *keys_t,
                                 const float *values_t, size_t padded, int keys, float scale, int first_visible,
                                 float *scores, float *out, size_t out_stride) {
    __m256 qv[SMALL_ROWS][8];
    int visible[SMALL_ROWS];
    for (int r = 0; r < nr; r++) {
        for (int d = 0; d < DIM; d++) qv[r][d] = _mm256_set1_ps(q[(size_t)r * q_stride + d]);
        visible[r] = first_visible < 0 ? keys : (first_visible + r < keys ? first_visible + r : keys);
    }
    const int extent = visible[nr - 1];
    const int vector_end = (extent + 7) & ~7; // keys_t/values_t rows are padded with zeros to `padded`
    // Scores, eight keys per vector, with each row's running maximum.
    __m256 maxima[SMALL_ROWS] = {_mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY)};
    for (int j = 0; j < vector_end; j += 8) {
        __m256 acc[SMALL_ROWS] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int d = 0; d < DIM; d++) {
            const __m256 k = _mm256_loadu_ps(keys_t + (size_t)d * padded + j);
            for (int r = 0; r < nr; r++) acc[r] = _mm256_fmadd_ps(qv[r][d], k, acc[r]);
        }
        for (int r = 0; r < nr; r++) {
            if (j + 8 > visible[r]) {
                // Keys past this row's last visible one (padding, or the causal mask) never count.
                float lanes[8] __attribute__((aligned(32)));
                _mm256_store_ps(lanes, acc[r]);
                for (int t = 0; t < 8; t++) if (j + t >= visible[r]) lanes[t] = -INFINITY;
                acc[r] = _mm256_load_ps(lanes);
            }
            _mm256_storeu_ps(scores + (size_t)r * padded + j, acc[r]);
            maxima[r] = _mm256_max_ps(maxima[r], acc[r]);
        }
    }
    // exp(scale · (s − max)); masked keys (−inf) give ~1e-38, nothing next to the largest term, 1.
    float sums[SMALL_ROWS];
    for (int r = 0; r < nr; r++) {
        const __m256 sv = _mm256_set1_ps(scale), shift = _mm256_set1_ps(-scale * kiln_hmax8(maxima[r]));
        __m256 total = _mm256_setzero_ps();
        float *row = scores + (size_t)r * padded;
        for (int j = 0; j < vector_end; j += 8) {
            const __m256 e = kiln_exp8_nonpositive(_mm256_fmadd_ps(_mm256_loadu_ps(row + j), sv, shift));
            _mm256_storeu_ps(row + j, e);
            total = _mm256_add_ps(total, e);
        }
        sums[r] = kiln_hsum8(total);
    }
    // Weighted sums of the values.
    __m256 acc[SMALL_ROWS][8];
    for (int r = 0; r < nr; r++)
        for (int d = 0; d < DIM; d++) acc[r][d] = _mm256_setzero_ps();
    for (int j = 0; j < vector_end; j += 8) {
        __m256 p[SMALL_ROWS];
        for (int r = 0; r < nr; r++) p[r] = _mm256_loadu_ps(scores + (size_t)r * padded + j);
        for (int d = 0; d < DIM; d++) {
            const __m256 v = _mm256_loadu_ps(values_t + (size_t)d * padded + j);
            for (int r = 0; r < nr; r++) acc[r][d] = _mm256_fmadd_ps(p[r], v, acc[r][d]);
        }
    }
    for (int r = 0; r < nr; r++) {
        const float inverse = 1.0f / sums[r];
        for (int d = 0; d < DIM; d++) out[(size_t)r * out_stride + d] = kiln_hsum8(acc[r][d]) * inverse;
    }
}

#define SMALL_HEAD_BODY(DIM)                                                                             \
    KILN_AVX2 static void small_head_##DIM(const float *q, size_t q_stride, int rows, const float *keys_t, \
                                           const float *values_t, size_t padded, int keys, float scale,     \
                                           int first_visible, float *scores, float *out, size_t out_stride) { \
        int r = 0;                                                                                       \
        for (; r + 2 <= rows; r += 2)                                                                    \
            small_rows(DIM, 2, q + (size_t)r * q_stride, q_stride, keys_t, values_t, padded, keys, scale,  \
                       first_visible < 0 ? -1 : first_visible + r, scores, out + (size_t)r * out_stride, out_stride); \
        if (r < rows)                                                                                    \
            small_rows(DIM, 1, q + (size_t)r * q_stride, q_stride, keys_t, values_t, padded, keys, scale,  \
                       first_visible < 0 ? -1 : first_visible + r, scores, out + (size_t)r * out_stride, out_stride); \
    }
SMALL_HEAD_BODY(1)
SMALL_HEAD_BODY(2)
SMALL_HEAD_BODY(3)
SMALL_HEAD_BODY(4)
SMALL_HEAD_BODY(5)
SMALL_HEAD_BODY(6)
SMALL_HEAD_BODY(7)
SMALL_HEAD_BODY(8)
#endif

void kiln_attention_small_head(const float *q, size_t q_stride, int rows, const float *keys_t, const float *values_t,
                               size_t padded, int keys, int dim, float scale, int first_visible, float *scores,
                               float *out, size_t out_stride) {
    if (dim < 1 || dim > 8 || rows <= 0 || keys <= 0) return;
#ifdef KILN_X86
    if (kiln_simd_active()) {
        switch (dim) {
#define SMALL_CASE(D) case D: small_head_##D(q, q_stride, rows, keys_t, values_t, padded, keys, scale, first_visible, scores, out, out_stride); return;
        SMALL_CASE(1) SMALL_CASE(2) SMALL_CASE(3) SMALL_CASE(4) SMALL_CASE(5) SMALL_CASE(6) SMALL_CASE(7) SMALL_CASE(8)
#undef SMALL_CASE
        }
    }
#endif
    kiln_attention_small_head_scalar(q, q_stride, rows, keys_t, values_t, padded, keys, dim, scale, first_visible,
                                     scores, out, out_stride);
}
