#ifndef KILN_KERNELS_H
#define KILN_KERNELS_H
// Narrow SIMD loops over raw pointers. No allocation, no I/O.
// Each entry point dispatches at run time to an AVX2/FMA/F16C body where the CPU has it, and to a
// portable scalar body elsewhere (or when kiln_set_simd_enabled(0) was called, for tests).
#include <stddef.h>
#include <stdint.h>

/// 1 when the running CPU has AVX2, FMA and F16C, else 0.
int kiln_cpu_has_avx2(void);

/// 1 when kernels take their AVX2 bodies (the CPU has AVX2, FMA and F16C).
int kiln_simd_active(void);
// Each kernel `kiln_X` also has `kiln_X_scalar`: its portable body, called directly by tests so that
// both bodies are checked on an AVX2 machine.

/// GGML type numbers the kernels accept (as in GGUF).
enum {
    KILN_TYPE_F32 = 0, KILN_TYPE_F16 = 1, KILN_TYPE_Q4_0 = 2, KILN_TYPE_Q4_1 = 3,
    KILN_TYPE_Q5_0 = 6, KILN_TYPE_Q5_1 = 7, KILN_TYPE_Q8_0 = 8,
    KILN_TYPE_Q4_K = 12, KILN_TYPE_Q5_K = 13, KILN_TYPE_Q6_K = 14, KILN_TYPE_BF16 = 30,
};

/// 32 activations quantized to 8 bits: x[i] ≈ d · qs[i]; s = d · Σ qs[i] (used by weight types
/// with an offset term). 40 bytes.
typedef struct {
    float d;
    float s;
    int8_t qs[32];
} kiln_q8_block;

/// Quantizes `rows` rows of `columns` floats (a multiple of 32) to Q8 blocks:
/// x: [rows × x_stride] floats; out: [rows × out_stride_blocks] blocks, columns/32 per row written.
/// d = max|x| / 127 per block; q = round-to-nearest-even(x / d).
void kiln_quantize_q8(const float *x, size_t x_stride, int rows, int columns,
                      kiln_q8_block *out, size_t out_stride_blocks);
void kiln_quantize_q8_scalar(const float *x, size_t x_stride, int rows, int columns,
                             kiln_q8_block *out, size_t out_stride_blocks);

/// Whether kiln_matmul_q8 accepts weight type `type`.
int kiln_matmul_q8_supports(int type);

/// Quantized weights × Q8 activations:
/// y[b * y_stride + r] = Σ_c W[r][c] · X[b][c] for r < rows, b < batch.
/// w: first weight row (row r at w + r * row_bytes); columns: a multiple of the type's block size;
/// x: [batch × x_stride_blocks] blocks from kiln_quantize_q8. Integer dot products per 32-element
/// unit, scaled in float. Rows are processed in tiles that reuse each decoded weight block across
/// up to 4 activation rows.
void kiln_matmul_q8(int type, const void *w, size_t row_bytes, int rows, int columns,
                    const kiln_q8_block *x, size_t x_stride_blocks, int batch,
                    float *y, size_t y_stride);
void kiln_matmul_q8_scalar(int type, const void *w, size_t row_bytes, int rows, int columns,
                           const kiln_q8_block *x, size_t x_stride_blocks, int batch,
                           float *y, size_t y_stride);

/// Whether kiln_matmul_f32 accepts weight type `type`.
int kiln_matmul_f32_supports(int type);

/// Weights × f32 activations, weights dequantized in registers (F32, F16, BF16; also Q4_1 and Q8_0
/// for the comparison the kernel benchmark prints):
/// y[b * y_stride + r] = Σ_c W[r][c] · x[b * x_stride + c].
void kiln_matmul_f32(int type, const void *w, size_t row_bytes, int rows, int columns,
                     const float *x, size_t x_stride, int batch, float *y, size_t y_stride);
void kiln_matmul_f32_scalar(int type, const void *w, size_t row_bytes, int rows, int columns,
                            const float *x, size_t x_stride, int batch, float *y, size_t y_stride);

#endif
