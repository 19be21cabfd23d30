// Winograd F(2×2, 3×3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) for 3×3, stride-1, padding-1 convolutions: each 2×2 block of output pixels is
// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 4×4 input patch d around it, so the channel sums become 16
// independent products [out × in]·[in × tiles] with 16 multiplies per 4 outputs instead of 36.
// The transforms use only 0, ±1 and ±½, so float rounding stays within a few ulps of the direct sum.
#include "kiln_kernels.h"
#include "kiln_internal.h"

/// Bᵀ d B of one 4×4 patch into the 16 matrices.
KILN_INLINE void input_tile(float d[4][4], float *target, size_t v_stride, size_t tile) {
    float t[4][4];
    for (int j = 0; j < 4; j++) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; i++) {
        target[(size_t)(i * 4 + 0) * v_stride + tile] = t[i][0] - t[i][2];
        target[(size_t)(i * 4 + 1) * v_stride + tile] = t[i][1] + t[i][2];
        target[(size_t)(i * 4 + 2) * v_stride + tile] = t[i][2] - t[i][1];
        target[(size_t)(i * 4 + 3) * v_stride + tile] = t[i][1] - t[i][3];
    }
}

/// Tiles tx ..< tx_end of row ty, patch by patch (edges, and every tile in the portable body).
static void input_tiles(const float *plane, int height, int width, int ty, int tx, int tx_end, int tiles_x, int ty0,
                        float *target, size_t v_stride) {
    for (; tx < tx_end; tx++) {
        const int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
        float d[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int y = y0 + i, x = x0 + j;
                d[i][j] = (y >= 0 && y < height && x >= 0 && x < width) ? plane[(size_t)y * width + x] : 0;
            }
        input_tile(d, target, v_stride, (size_t)(ty - ty0) * tiles_x + tx);
    }
}

void kiln_winograd_input_scalar(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                float *v, size_t v_stride) {
    const int tiles_x = (width + 1) / 2, band = (ty1 - ty0) * tiles_x;
    for (int c = c0; c < c1; c++)
        for (int ty = ty0; ty < ty1; ty++)
            input_tiles(input + (size_t)c * height * width, height, width, ty, 0, tiles_x, tiles_x, ty0, v + (size_t)c * band, v_stride);
}

#ifdef KILN_X86
/// Lanes 0, 2, …, 14 (even = 1: 1, 3, …, 15) of the 16 floats at p.
KILN_AVX2_INLINE __m256 strided8(const float *p, int odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    const __m256 mixed = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)) : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
}

KILN_AVX2 static void winograd_input_avx2(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                          float *v, size_t v_stride) {
    const int tiles_x = (width + 1) / 2, band = (ty1 - ty0) * tiles_x;
    for (int c = c0; c < c1; c++) {
        const float *plane = input + (size_t)c * height * width;
        float *target = v + (size_t)c * band;
        for (int ty = ty0; ty < ty1; ty++) {
            const int y0 = 2 * ty - 1;
            if (y0 < 0 || y0 + 4 > height) { input_tiles(plane, height, width, ty, 0, tiles_x, tiles_x, ty0, target, v_stride); continue; }
            // Eight tiles at a time where their patches (columns x0 … x0 + 17) lie inside the row.
            int tx = 1;
            input_tiles(plane, height, width, ty, 0, 1, tiles_x, ty0, target, v_stride);
            for (; 2 * tx + 17 <= width; tx += 8) {
                const int x0 = 2 * tx - 1;
                __m256 d[4][4];
                for (int i = 0; i < 4; i++) {
                    const float *line = plane + (size_t)(y0 + i) * width + x0;
                    d[i][0] = strided8(line, 0);
                    d[i][1] = strided8(line, 1);
                    d[i][2] = strided8(line + 2, 0);
                    d[i][3] = strided8(line + 2, 1);
                }
                __m256 t[4][4];
                for (int j = 0; j < 4; j++) {
                    t[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
                    t[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
                    t[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
                    t[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
                }
                float *out = target + (size_t)(ty - ty0) * tiles_x + tx;
                for (int i = 0; i < 4; i++) {
                    _mm256_storeu_ps(out + (size_t)(i * 4 + 0) * v_stride, _mm256_sub_ps(t[i][0], t[i][2]));
                    _mm256_storeu_ps(out + (size_t)(i * 4 + 1) * v_stride, _mm256_add_ps(t[i][1], t[i][2]));
                    _mm256_storeu_ps(out + (size_t)(i * 4 + 2) * v_stride, _mm256_sub_ps(t[i][2], t[i][1]));
                    _mm256_storeu_ps(out + (size_t)(i * 4 + 3) * v_stride, _mm256_sub_ps(t[i][1], t[i][3]));
                }
            }
            input_tiles(plane, height, width, ty, tx, tiles_x, tiles_x, ty0, target, v_stride);
        }
    }
}
#endif

void kiln_winograd_input(const float *input, int height, int width, int ty0, int ty1, int c0, int c1, float *v, size_t v_stride) {
#ifdef KILN_X86
    if (kiln_simd_active()) { winograd_input_avx2(input, height, width, ty0, ty1, c0, c1, v, v_stride); return; }
#endif
    kiln_winograd_input_scalar(input, height, width, ty0, ty1, c0, c1, v, v_stride);
}

static float weight_at(int type, const void *base, size_t index) {
    return kiln_weight_value(type, base, index, KILN_TYPE_F16, KILN_TYPE_BF16);
}

/// G g Gᵀ of one 3×3 kernel into the 16 matrices.
KILN_INLINE void weight_tile(const float g[3][3], float *target, size_t u_stride) {
    // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2; then the same on columns.
    float r[4][3];
    for (int j = 0; j < 3; j++) {
        r[0][j] = g[0][j];
        r[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
        r[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
        r[3][j] = g[2][j];
    }
    for (int i = 0; i < 4; i++) {
        target[(size_t)(i * 4 + 0) * u_stride] = r[i][0];
        target[(size_t)(i * 4 + 1) * u_stride] = 0.5f * (r[i][0] + r[i][1] + r[i][2]);
        target[(size_t)(i * 4 + 2) * u_stride] = 0.5f * (r[i][0] - r[i][1] + r[i][2]);
        target[(size_t)(i * 4 + 3) * u_stride] = r[i][2];
    }
}

#ifdef KILN_X86
/// Half weights: eight input channels' 72 values widened with F16C at once, then transformed.
KILN_AVX2 static void winograd_weights_f16_avx2(const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
    const uint16_t *halves = (const uint16_t *)weights;
    for (int k = k0; k < k1; k++) {
        int c = 0;
        for (; c + 8 <= in_channels; c += 8) {
            __m256 g[9];
            kiln_load_kernels3x3_f16x8(halves + ((size_t)k * in_channels + c) * 9, g);
            const __m256 half = _mm256_set1_ps(0.5f);
            __m256 r[4][3];
            for (int j = 0; j < 3; j++) {
                r[0][j] = g[j];
                r[1][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(g[j], g[3 + j]), g[6 + j]));
                r[2][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(g[j], g[3 + j]), g[6 + j]));
                r[3][j] = g[6 + j];
            }
            float *target = u + (size_t)(k - k0) * in_channels + c;
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(target + (size_t)(i * 4 + 0) * u_stride, r[i][0]);
                _mm256_storeu_ps(target + (size_t)(i * 4 + 1) * u_stride,
                                 _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(r[i][0], r[i][1]), r[i][2])));
                _mm256_storeu_ps(target + (size_t)(i * 4 + 2) * u_stride,
                                 _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(r[i][0], r[i][1]), r[i][2])));
                _mm256_storeu_ps(target + (size_t)(i * 4 + 3) * u_stride, r[i][2]);
            }
        }
        for (; c < in_channels; c++) {
            float g[3][3];
            for (int e = 0; e < 9; e++) g[e / 3][e % 3] = kiln_load_half((const uint8_t *)(halves + ((size_t)k * in_channels + c) * 9 + e));
            weight_tile(g, u + (size_t)(k - k0) * in_channels + c, u_stride);
        }
    }
}
#endif

void kiln_winograd_weights(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
#ifdef KILN_X86
    if (type == KILN_TYPE_F16 && kiln_simd_active()) { winograd_weights_f16_avx2(weights, in_channels, k0, k1, u, u_stride); return; }
#endif
    kiln_winograd_weights_scalar(type, weights, in_channels, k0, k1, u, u_stride);
}

void kiln_winograd_weights_scalar(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
    for (int k = k0; k < k1; k++)
        for (int c = 0; c < in_channels; c++) {
            const size_t base = ((size_t)k * in_channels + c) * 9;
            float g[3][3];
            for (int e = 0; e < 9; e++) g[e / 3][e % 3] = weight_at(type, weights, base + e);
            weight_tile(g, u + (size_t)(k - k0) * in_channels + c, u_stride);
        }
}

void kiln_winograd_output(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                          const float *bias, float *output) {
    const int tiles_x = (width + 1) / 2, tiles = (ty1 - ty0) * tiles_x;
    for (int k = k0; k < k1; k++) {
        const float *source = m + (size_t)(k - k0) * tiles;
        float *plane = output + (size_t)k * height * width;
        const float shift = bias ? bias[k] : 0;
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tiles_x; tx++) {
                const size_t tile = (size_t)(ty - ty0) * tiles_x + tx;
                float x[4][4];
                for (int e = 0; e < 16; e++) x[e / 4][e % 4] = source[(size_t)e * m_stride + tile];
                // Aᵀ x A with Aᵀ = [1 1 1 0; 0 1 −1 −1].
                float s[2][4];
                for (int j = 0; j < 4; j++) {
                    s[0][j] = x[0][j] + x[1][j] + x[2][j];
                    s[1][j] = x[1][j] - x[2][j] - x[3][j];
                }
                for (int r = 0; r < 2; r++) {
                    const int y = 2 * ty + r;
                    if (y >= height) break;
                    float *line = plane + (size_t)y * width + 2 * tx;
                    line[0] = s[r][0] + s[r][1] + s[r][2] + shift;
                    if (2 * tx + 1 < width) line[1] = s[r][1] - s[r][2] - s[r][3] + shift;
                }
            }
    }
}
