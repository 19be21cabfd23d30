// Winograd F(4×4, 3×3) for 3×3, stride-1, padding-1 convolutions: each 4×4 block of output pixels
// is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 6×6 input patch d around it, so the channel sums become 36
// products [out × in]·[in × tiles]: 36 multiplies per 16 outputs (2.25 each) where F(2×2, 3×3)
// takes 4 and the direct sum 9. The interpolation points are 0, ±1, ±2 and ∞: the largest
// coefficients are 5 in Bᵀ and 8 in Aᵀ, and G's 1/6, 1/12 and 1/24 are the only inexact ones, so the
// f32 error stays a few times that of F(2×2) (measured against the direct sum in the tests).
//
//      ⎡4  0 −5  0  1  0⎤        ⎡ 1/4    0     0  ⎤        ⎡1  1  1  1  1  0⎤
//      ⎢0 −4 −4  1  1  0⎥        ⎢−1/6 −1/6  −1/6 ⎥        ⎢0  1 −1  2 −2  0⎥
// Bᵀ = ⎢0  4 −4 −1  1  0⎥    G = ⎢−1/6  1/6  −1/6 ⎥   Aᵀ = ⎢0  1  1  4  4  0⎥
//      ⎢0 −2 −1  2  1  0⎥        ⎢1/24 1/12  1/6  ⎥        ⎣0  1 −1  8 −8  1⎦
//      ⎢0  2 −1 −2  1  0⎥        ⎢1/24 −1/12 1/6  ⎥
//      ⎣0  4  0 −5  0  1⎦        ⎣  0    0     1  ⎦
#include "kiln_kernels.h"
#include "kiln_internal.h"

/// Widest padded row (4·tiles + 2 floats) the buffered input transform holds on the stack.
#define WINOGRAD4_ROW_LIMIT 1032

/// Bᵀ applied to six values a stride apart; the same sums, in the same order, as the vector body.
#define B6(d0, d1, d2, d3, d4, d5, r)                         \
    do {                                                      \
        r[0] = (4 * (d0) - 5 * (d2)) + (d4);                  \
        r[1] = ((d3) + (d4)) - 4 * ((d1) + (d2));             \
        r[2] = ((d4) - (d3)) + 4 * ((d1) - (d2));             \
        r[3] = ((d4) - (d2)) + 2 * ((d3) - (d1));             \
        r[4] = ((d4) - (d2)) - 2 * ((d3) - (d1));             \
        r[5] = (4 * (d1) - 5 * (d3)) + (d5);                  \
    } while (0)

/// The six input rows of tile row ty, zero-padded: padded[r][x + 1] = input[4ty − 1 + r][x].
static void padded_rows(const float *plane, int height, int width, int ty, float *padded, int row_length) {
    for (int r = 0; r < 6; r++) {
        float *line = padded + (size_t)r * row_length;
        const int y = 4 * ty - 1 + r;
        memset(line, 0, sizeof(float) * (size_t)row_length);
        if (y >= 0 && y < height) memcpy(line + 1, plane + (size_t)y * width, sizeof(float) * (size_t)width);
    }
}

/// Bᵀ d B of one 6×6 patch into the 36 matrices.
KILN_INLINE void input_tile4(const float d[6][6], float *target, size_t v_stride) {
    float t[6][6];
    for (int j = 0; j < 6; j++) {
        float r[6];
        B6(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], r);
        for (int i = 0; i < 6; i++) t[i][j] = r[i];
    }
    for (int i = 0; i < 6; i++) {
        float r[6];
        B6(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], r);
        for (int j = 0; j < 6; j++) target[(size_t)(i * 6 + j) * v_stride] = r[j];
    }
}

void kiln_winograd4_input_scalar(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                 float *v, size_t v_stride) {
    const int tiles_x = (width + 3) / 4, band = (ty1 - ty0) * tiles_x;
    for (int c = c0; c < c1; c++) {
        const float *plane = input + (size_t)c * height * width;
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tiles_x; tx++) {
                float d[6][6];
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++) {
                        const int y = 4 * ty - 1 + i, x = 4 * tx - 1 + j;
                        d[i][j] = (y >= 0 && y < height && x >= 0 && x < width) ? plane[(size_t)y * width + x] : 0;
                    }
                input_tile4(d, v + (size_t)c * band + (size_t)(ty - ty0) * tiles_x + tx, v_stride);
            }
    }
}

#ifdef KILN_X86
/// Per channel and tile row: the six rows copied zero-padded, Bᵀ applied down the columns eight
/// pixels at a time (contiguous), then B across each tile's six columns for eight tiles at once
/// (a stride-4 gather from the row buffer, which stays in L1).
KILN_AVX2 static void winograd4_input_avx2(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                           float *v, size_t v_stride) {
    const int tiles_x = (width + 3) / 4, band = (ty1 - ty0) * tiles_x;
    const int row_length = (4 * tiles_x + 2 + 7) & ~7;
    float padded[6 * WINOGRAD4_ROW_LIMIT] __attribute__((aligned(32)));
    float rows[6 * WINOGRAD4_ROW_LIMIT] __attribute__((aligned(32)));
    const __m256 four = _mm256_set1_ps(4), five = _mm256_set1_ps(5), two = _mm256_set1_ps(2);
    const __m256i every_fourth = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    for (int c = c0; c < c1; c++) {
        const float *plane = input + (size_t)c * height * width;
        for (int ty = ty0; ty < ty1; ty++) {
            padded_rows(plane, height, width, ty, padded, row_length);
            // rows[i][x] = (Bᵀ · padded[·][x])[i] for every padded column.
            for (int x = 0; x < row_length; x += 8) {
                __m256 d[6];
                for (int r = 0; r < 6; r++) d[r] = _mm256_load_ps(padded + (size_t)r * row_length + x);
                _mm256_store_ps(rows + x, _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[0]), _mm256_mul_ps(five, d[2])), d[4]));
                _mm256_store_ps(rows + row_length + x,
                                _mm256_sub_ps(_mm256_add_ps(d[3], d[4]), _mm256_mul_ps(four, _mm256_add_ps(d[1], d[2]))));
                _mm256_store_ps(rows + 2 * row_length + x,
                                _mm256_add_ps(_mm256_sub_ps(d[4], d[3]), _mm256_mul_ps(four, _mm256_sub_ps(d[1], d[2]))));
                _mm256_store_ps(rows + 3 * row_length + x,
                                _mm256_add_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]))));
                _mm256_store_ps(rows + 4 * row_length + x,
                                _mm256_sub_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]))));
                _mm256_store_ps(rows + 5 * row_length + x, _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[1]), _mm256_mul_ps(five, d[3])), d[5]));
            }
            float *target = v + (size_t)c * band + (size_t)(ty - ty0) * tiles_x;
            int tx = 0;
            for (; tx + 8 <= tiles_x; tx += 8)
                for (int i = 0; i < 6; i++) {
                    const float *line = rows + (size_t)i * row_length + 4 * tx;
                    __m256 d[6];
                    for (int j = 0; j < 6; j++) d[j] = _mm256_i32gather_ps(line + j, every_fourth, 4);
                    float *out = target + tx + (size_t)(i * 6) * v_stride;
                    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[0]), _mm256_mul_ps(five, d[2])), d[4]));
                    _mm256_storeu_ps(out + v_stride,
                                     _mm256_sub_ps(_mm256_add_ps(d[3], d[4]), _mm256_mul_ps(four, _mm256_add_ps(d[1], d[2]))));
                    _mm256_storeu_ps(out + 2 * v_stride,
                                     _mm256_add_ps(_mm256_sub_ps(d[4], d[3]), _mm256_mul_ps(four, _mm256_sub_ps(d[1], d[2]))));
                    _mm256_storeu_ps(out + 3 * v_stride,
                                     _mm256_add_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]))));
                    _mm256_storeu_ps(out + 4 * v_stride,
                                     _mm256_sub_ps(_mm256_sub_ps(d[4], d[2]), _mm256_mul_ps(two, _mm256_sub_ps(d[3], d[1]))));
                    _mm256_storeu_ps(out + 5 * v_stride,
                                     _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, d[1]), _mm256_mul_ps(five, d[3])), d[5]));
                }
            for (; tx < tiles_x; tx++)
                for (int i = 0; i < 6; i++) {
                    const float *line = rows + (size_t)i * row_length + 4 * tx;
                    float r[6];
                    B6(line[0], line[1], line[2], line[3], line[4], line[5], r);
                    for (int j = 0; j < 6; j++) target[tx + (size_t)(i * 6 + j) * v_stride] = r[j];
                }
        }
    }
}
#endif

void kiln_winograd4_input(const float *input, int height, int width, int ty0, int ty1, int c0, int c1, float *v, size_t v_stride) {
#ifdef KILN_X86
    if (kiln_simd_active() && 4 * ((width + 3) / 4) + 2 + 7 <= WINOGRAD4_ROW_LIMIT) {
        winograd4_input_avx2(input, height, width, ty0, ty1, c0, c1, v, v_stride);
        return;
    }
#endif
    kiln_winograd4_input_scalar(input, height, width, ty0, ty1, c0, c1, v, v_stride);
}

/// G applied to three values: the six rows of G·g.
#define G3(g0, g1, g2, r)                                                   \
    do {                                                                    \
        r[0] = (g0) * 0.25f;                                                \
        r[1] = (((g0) + (g2)) + (g1)) * (-1.0f / 6);                        \
        r[2] = (((g0) + (g2)) - (g1)) * (-1.0f / 6);                        \
        r[3] = ((g0) * (1.0f / 24) + (g2) * (1.0f / 6)) + (g1) * (1.0f / 12); \
        r[4] = ((g0) * (1.0f / 24) + (g2) * (1.0f / 6)) - (g1) * (1.0f / 12); \
        r[5] = (g2);                                                        \
    } while (0)

/// G g Gᵀ of one 3×3 kernel into the 36 matrices.
KILN_INLINE void weight_tile4(const float g[3][3], float *target, size_t u_stride) {
    float t[6][3];
    for (int j = 0; j < 3; j++) {
        float r[6];
        G3(g[0][j], g[1][j], g[2][j], r);
        for (int i = 0; i < 6; i++) t[i][j] = r[i];
    }
    for (int i = 0; i < 6; i++) {
        float r[6];
        G3(t[i][0], t[i][1], t[i][2], r);
        for (int j = 0; j < 6; j++) target[(size_t)(i * 6 + j) * u_stride] = r[j];
    }
}

void kiln_winograd4_weights_scalar(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
    for (int k = k0; k < k1; k++)
        for (int c = 0; c < in_channels; c++) {
            const size_t base = ((size_t)k * in_channels + c) * 9;
            float g[3][3];
            for (int e = 0; e < 9; e++) g[e / 3][e % 3] = kiln_weight_value(type, weights, base + e, KILN_TYPE_F16, KILN_TYPE_BF16);
            weight_tile4(g, u + (size_t)(k - k0) * in_channels + c, u_stride);
        }
}

#ifdef KILN_X86
/// G·(three vectors) with the scalar G3's operations in its order.
KILN_AVX2_INLINE void g3_avx2(__m256 g0, __m256 g1, __m256 g2, __m256 r[6]) {
    const __m256 sixth = _mm256_set1_ps(-1.0f / 6);
    const __m256 a = _mm256_add_ps(_mm256_mul_ps(g0, _mm256_set1_ps(1.0f / 24)), _mm256_mul_ps(g2, _mm256_set1_ps(1.0f / 6)));
    const __m256 b = _mm256_mul_ps(g1, _mm256_set1_ps(1.0f / 12));
    r[0] = _mm256_mul_ps(g0, _mm256_set1_ps(0.25f));
    r[1] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(g0, g2), g1), sixth);
    r[2] = _mm256_mul_ps(_mm256_sub_ps(_mm256_add_ps(g0, g2), g1), sixth);
    r[3] = _mm256_add_ps(a, b);
    r[4] = _mm256_sub_ps(a, b);
    r[5] = g2;
}

/// Half weights: eight input channels' 72 values widened with F16C at once, transformed side by
/// side in the lanes so that each of the 36 values is one contiguous 8-wide store.
KILN_AVX2 static void winograd4_weights_f16_avx2(const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
    const uint16_t *halves = (const uint16_t *)weights;
    for (int k = k0; k < k1; k++) {
        int c = 0;
        for (; c + 8 <= in_channels; c += 8) {
            __m256 g[9];
            kiln_load_kernels3x3_f16x8(halves + ((size_t)k * in_channels + c) * 9, g);
            __m256 t[6][3];
            for (int j = 0; j < 3; j++) {
                __m256 r[6];
                g3_avx2(g[j], g[3 + j], g[6 + j], r);
                for (int i = 0; i < 6; i++) t[i][j] = r[i];
            }
            float *target = u + (size_t)(k - k0) * in_channels + c;
            for (int i = 0; i < 6; i++) {
                __m256 r[6];
                g3_avx2(t[i][0], t[i][1], t[i][2], r);
                for (int j = 0; j < 6; j++) _mm256_storeu_ps(target + (size_t)(i * 6 + j) * u_stride, r[j]);
            }
        }
        for (; c < in_channels; c++) {
            float g[3][3];
            for (int e = 0; e < 9; e++) g[e / 3][e % 3] = kiln_load_half((const uint8_t *)(halves + ((size_t)k * in_channels + c) * 9 + e));
            weight_tile4(g, u + (size_t)(k - k0) * in_channels + c, u_stride);
        }
    }
}
#endif

void kiln_winograd4_weights(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride) {
#ifdef KILN_X86
    if (type == KILN_TYPE_F16 && kiln_simd_active()) { winograd4_weights_f16_avx2(weights, in_channels, k0, k1, u, u_stride); return; }
#endif
    kiln_winograd4_weights_scalar(type, weights, in_channels, k0, k1, u, u_stride);
}

/// Aᵀ applied to six values: the four rows of Aᵀ·m.
#define A6(m0, m1, m2, m3, m4, m5, y)                                  \
    do {                                                               \
        const float plus = (m1) + (m2), minus = (m1) - (m2);           \
        const float plus34 = (m3) + (m4), minus34 = (m3) - (m4);       \
        y[0] = ((m0) + plus) + plus34;                                 \
        y[1] = minus + 2 * minus34;                                    \
        y[2] = plus + 4 * plus34;                                      \
        y[3] = (minus + 8 * minus34) + (m5);                           \
    } while (0)

/// Output tile (ty, tx) of channel k: Aᵀ x A + shift into the rows and columns inside the map.
static void output_tile4(const float *source, size_t m_stride, size_t tile, float *plane, int height, int width,
                         int ty, int tx, float shift) {
    float s[4][6];
    for (int j = 0; j < 6; j++) {
        float y[4];
        A6(source[(size_t)j * m_stride + tile], source[(size_t)(6 + j) * m_stride + tile],
           source[(size_t)(12 + j) * m_stride + tile], source[(size_t)(18 + j) * m_stride + tile],
           source[(size_t)(24 + j) * m_stride + tile], source[(size_t)(30 + j) * m_stride + tile], y);
        for (int a = 0; a < 4; a++) s[a][j] = y[a];
    }
    for (int a = 0; a < 4; a++) {
        const int row = 4 * ty + a;
        if (row >= height) break;
        float y[4];
        A6(s[a][0], s[a][1], s[a][2], s[a][3], s[a][4], s[a][5], y);
        float *line = plane + (size_t)row * width + 4 * tx;
        for (int b = 0; b < 4 && 4 * tx + b < width; b++) line[b] = y[b] + shift;
    }
}

void kiln_winograd4_output_scalar(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                                  const float *bias, float *output) {
    const int tiles_x = (width + 3) / 4, tiles = (ty1 - ty0) * tiles_x;
    for (int k = k0; k < k1; k++) {
        const float *source = m + (size_t)(k - k0) * tiles;
        float *plane = output + (size_t)k * height * width;
        const float shift = bias ? bias[k] : 0;
        for (int ty = ty0; ty < ty1; ty++)
            for (int tx = 0; tx < tiles_x; tx++)
                output_tile4(source, m_stride, (size_t)(ty - ty0) * tiles_x + tx, plane, height, width, ty, tx, shift);
    }
}

#ifdef KILN_X86
KILN_AVX2_INLINE void a6_avx2(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5, __m256 y[4]) {
    const __m256 plus = _mm256_add_ps(m1, m2), minus = _mm256_sub_ps(m1, m2);
    const __m256 plus34 = _mm256_add_ps(m3, m4), minus34 = _mm256_sub_ps(m3, m4);
    y[0] = _mm256_add_ps(_mm256_add_ps(m0, plus), plus34);
    y[1] = _mm256_add_ps(minus, _mm256_mul_ps(_mm256_set1_ps(2), minus34));
    y[2] = _mm256_add_ps(plus, _mm256_mul_ps(_mm256_set1_ps(4), plus34));
    y[3] = _mm256_add_ps(_mm256_add_ps(minus, _mm256_mul_ps(_mm256_set1_ps(8), minus34)), m5);
}

/// Eight tiles of a row at once (lanes = tiles); each output row's 4×8 block is transposed into
/// 32 contiguous pixels. Tiles that reach past the right edge take the scalar tile.
KILN_AVX2 static void winograd4_output_avx2(const float *m, size_t m_stride, int k0, int k1, int height, int width,
                                            int ty0, int ty1, const float *bias, float *output) {
    const int tiles_x = (width + 3) / 4, tiles = (ty1 - ty0) * tiles_x;
    for (int k = k0; k < k1; k++) {
        const float *source = m + (size_t)(k - k0) * tiles;
        float *plane = output + (size_t)k * height * width;
        const float shift = bias ? bias[k] : 0;
        const __m256 shifts = _mm256_set1_ps(shift);
        for (int ty = ty0; ty < ty1; ty++) {
            int tx = 0;
            for (; 4 * (tx + 8) <= width; tx += 8) {
                const float *at = source + (size_t)(ty - ty0) * tiles_x + tx;
                __m256 s[4][6];
                for (int j = 0; j < 6; j++) {
                    __m256 y[4];
                    a6_avx2(_mm256_loadu_ps(at + (size_t)j * m_stride), _mm256_loadu_ps(at + (size_t)(6 + j) * m_stride),
                            _mm256_loadu_ps(at + (size_t)(12 + j) * m_stride), _mm256_loadu_ps(at + (size_t)(18 + j) * m_stride),
                            _mm256_loadu_ps(at + (size_t)(24 + j) * m_stride), _mm256_loadu_ps(at + (size_t)(30 + j) * m_stride), y);
                    for (int a = 0; a < 4; a++) s[a][j] = y[a];
                }
                for (int a = 0; a < 4; a++) {
                    const int row = 4 * ty + a;
                    if (row >= height) break;
                    __m256 y[4];
                    a6_avx2(s[a][0], s[a][1], s[a][2], s[a][3], s[a][4], s[a][5], y);
                    for (int b = 0; b < 4; b++) y[b] = _mm256_add_ps(y[b], shifts);
                    // [b][tile] → [tile][b]: 8 tiles × 4 columns, 32 contiguous pixels.
                    const __m256 t0 = _mm256_unpacklo_ps(y[0], y[1]), t1 = _mm256_unpackhi_ps(y[0], y[1]);
                    const __m256 t2 = _mm256_unpacklo_ps(y[2], y[3]), t3 = _mm256_unpackhi_ps(y[2], y[3]);
                    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
                    const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
                    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
                    const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
                    float *line = plane + (size_t)row * width + 4 * tx;
                    _mm256_storeu_ps(line, _mm256_permute2f128_ps(u0, u1, 0x20));
                    _mm256_storeu_ps(line + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
                    _mm256_storeu_ps(line + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
                    _mm256_storeu_ps(line + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
                }
            }
            for (; tx < tiles_x; tx++)
                output_tile4(source, m_stride, (size_t)(ty - ty0) * tiles_x + tx, plane, height, width, ty, tx, shift);
        }
    }
}
#endif

void kiln_winograd4_output(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                           const float *bias, float *output) {
#ifdef KILN_X86
    if (kiln_simd_active()) { winograd4_output_avx2(m, m_stride, k0, k1, height, width, ty0, ty1, bias, output); return; }
#endif
    kiln_winograd4_output_scalar(m, m_stride, k0, k1, height, width, ty0, ty1, bias, output);
}
