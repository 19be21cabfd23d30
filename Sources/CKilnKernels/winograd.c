// Winograd F(2×2, 3×3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) for 3×3, stride-1, padding-1 convolutions: each 2×2 block of output pixels is
// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 4×4 input patch d around it, so the channel sums become 16
// independent products [out × in]·[in × tiles] with 16 multiplies per 4 outputs instead of 36.
// The transforms use only 0, ±1 and ±½, so float rounding stays within a few ulps of the direct sum.
#include "kiln_kernels.h"
#include "kiln_internal.h"

void kiln_winograd_input(const float *input, int height, int width, int c0, int c1, float *v, size_t v_stride) {
    const int tiles_y = (height + 1) / 2, tiles_x = (width + 1) / 2, tiles = tiles_y * tiles_x;
    for (int c = c0; c < c1; c++) {
        const float *plane = input + (size_t)c * height * width;
        float *target = v + (size_t)c * tiles;
        for (int ty = 0; ty < tiles_y; ty++)
            for (int tx = 0; tx < tiles_x; tx++) {
                const int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
                float d[4][4];
                if (y0 >= 0 && x0 >= 0 && y0 + 4 <= height && x0 + 4 <= width) {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) d[i][j] = plane[(size_t)(y0 + i) * width + x0 + j];
                } else {
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            const int y = y0 + i, x = x0 + j;
                            d[i][j] = (y >= 0 && y < height && x >= 0 && x < width) ? plane[(size_t)y * width + x] : 0;
                        }
                }
                // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3; then the same on columns.
                float t[4][4];
                for (int j = 0; j < 4; j++) {
                    t[0][j] = d[0][j] - d[2][j];
                    t[1][j] = d[1][j] + d[2][j];
                    t[2][j] = d[2][j] - d[1][j];
                    t[3][j] = d[1][j] - d[3][j];
                }
                const size_t tile = (size_t)ty * tiles_x + tx;
                for (int i = 0; i < 4; i++) {
                    target[(size_t)(i * 4 + 0) * v_stride + tile] = t[i][0] - t[i][2];
                    target[(size_t)(i * 4 + 1) * v_stride + tile] = t[i][1] + t[i][2];
                    target[(size_t)(i * 4 + 2) * v_stride + tile] = t[i][2] - t[i][1];
                    target[(size_t)(i * 4 + 3) * v_stride + tile] = t[i][1] - t[i][3];
                }
            }
    }
}

static float weight_at(int type, const void *base, size_t index) {
    const uint8_t *bytes = (const uint8_t *)base;
    if (type == KILN_TYPE_F16) return kiln_load_half(bytes + 2 * index);
    if (type == KILN_TYPE_BF16) {
        uint32_t bits = (uint32_t)kiln_load_u16(bytes + 2 * index) << 16;
        float value;
        memcpy(&value, &bits, 4);
        return value;
    }
    float value;
    memcpy(&value, bytes + 4 * index, 4);
    return value;
}

void kiln_winograd_weights(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
    for (int k = k0; k < k1; k++)
        for (int c = 0; c < in_channels; c++) {
            const size_t base = ((size_t)k * in_channels + c) * 9;
            float g[3][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) g[i][j] = weight_at(type, weights, base + i * 3 + j);
            // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2; then the same on columns.
            float r[4][3];
            for (int j = 0; j < 3; j++) {
                r[0][j] = g[0][j];
                r[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                r[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                r[3][j] = g[2][j];
            }
            float *target = u + (size_t)(k - k0) * in_channels + c;
            for (int i = 0; i < 4; i++) {
                target[(size_t)(i * 4 + 0) * u_stride] = r[i][0];
                target[(size_t)(i * 4 + 1) * u_stride] = 0.5f * (r[i][0] + r[i][1] + r[i][2]);
                target[(size_t)(i * 4 + 2) * u_stride] = 0.5f * (r[i][0] - r[i][1] + r[i][2]);
                target[(size_t)(i * 4 + 3) * u_stride] = r[i][2];
            }
        }
}

void kiln_winograd_output(const float *m, size_t m_stride, int k0, int k1, int height, int width,
                          const float *bias, float *output) {
    const int tiles_y = (height + 1) / 2, tiles_x = (width + 1) / 2, tiles = tiles_y * tiles_x;
    for (int k = k0; k < k1; k++) {
        const float *source = m + (size_t)(k - k0) * tiles;
        float *plane = output + (size_t)k * height * width;
        const float shift = bias ? bias[k] : 0;
        for (int ty = 0; ty < tiles_y; ty++)
            for (int tx = 0; tx < tiles_x; tx++) {
                const size_t tile = (size_t)ty * tiles_x + tx;
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
