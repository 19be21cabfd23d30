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

/// 1 when the running CPU also has AVX-512 F, BW, DQ, VL and VNNI.
int kiln_cpu_has_avx512_vnni(void);

/// 1 when the kernels that have AVX-512 bodies (kiln_matmul_q8 for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0;
/// kiln_matmul_q8k for Q4_K and Q6_K; kiln_attention_tiled for widths that are multiples of 16) take
/// them: the CPU has AVX-512 VNNI. They give the AVX2 bodies' bits.
int kiln_avx512_active(void);

/// Turns the AVX-512 bodies off (0) or back on where the CPU has them (1), for the whole process:
/// for benchmarks that compare the two in one run. Results do not change, only speed.
void kiln_set_avx512_enabled(int enabled);
// Each kernel `kiln_X` also has `kiln_X_scalar`: its portable body, called directly by tests so that
// both bodies are checked on an AVX2 machine.

/// GGML type numbers the kernels accept (as in GGUF).
enum {
    KILN_TYPE_F32 = 0, KILN_TYPE_F16 = 1, KILN_TYPE_Q4_0 = 2, KILN_TYPE_Q4_1 = 3,
    KILN_TYPE_Q5_0 = 6, KILN_TYPE_Q5_1 = 7, KILN_TYPE_Q8_0 = 8,
    KILN_TYPE_Q4_K = 12, KILN_TYPE_Q5_K = 13, KILN_TYPE_Q6_K = 14, KILN_TYPE_BF16 = 30,
};

/// Block k (32 activations) of four consecutive activation rows of a batch, side by side: row i's
/// values ≈ d[i] · qs[i][j]; s[i] ≈ d[i] · Σ_j qs[i][j] (used by weight types with an offset term).
/// d and s hold half-precision values (as llama.cpp's Q8_0/Q8_1 blocks do).
/// 160 bytes. Keeping the four rows' scales adjacent lets one multiply form the scales of a weight
/// unit against all four rows.
typedef struct {
    float d[4];
    float s[4];
    int8_t qs[4][32];
} kiln_q8x4_block;

/// Quantizes `rows` rows of `columns` floats (a multiple of 32), row r at x + r * x_stride, into
/// groups of four rows: group g (rows 4g ... 4g+3) holds blocks out[g * columns/32 ... ]. Rows of the
/// last group past `rows` are zeros. Per block, with d = max|x| / 127: q = round-to-nearest-even(x · 127/max|x|),
/// stored d = half(d), s = half(d · Σq) (halves rounded to nearest even, held as floats).
void kiln_quantize_q8(const float *x, size_t x_stride, int rows, int columns, kiln_q8x4_block *out);
void kiln_quantize_q8_scalar(const float *x, size_t x_stride, int rows, int columns, kiln_q8x4_block *out);

/// Whether kiln_matmul_q8 accepts weight type `type`.
int kiln_matmul_q8_supports(int type);

/// Quantized weights × Q8 activations:
/// y[b * y_stride + r] = Σ_c W[r][c] · X[b][c] for r < rows, b < batch.
/// w: first weight row (row r at w + r * row_bytes); columns: a multiple of the type's block size;
/// x: the activation groups from kiln_quantize_q8 (batch rows, the first at lane 0 of group 0).
/// Integer dot products per 32-element unit, scaled in float; each decoded weight unit serves the
/// four rows of a group. A row's result has the same bits whatever the batch size.
void kiln_matmul_q8(int type, const void *w, size_t row_bytes, int rows, int columns,
                    const kiln_q8x4_block *x, int batch, float *y, size_t y_stride);
void kiln_matmul_q8_scalar(int type, const void *w, size_t row_bytes, int rows, int columns,
                           const kiln_q8x4_block *x, int batch, float *y, size_t y_stride);
/// kiln_matmul_q8 without its AVX-512 bodies (AVX2 where the CPU has it, else portable): lets tests
/// and the kernel benchmark compare the two on an AVX-512 machine.
void kiln_matmul_q8_avx2(int type, const void *w, size_t row_bytes, int rows, int columns,
                         const kiln_q8x4_block *x, int batch, float *y, size_t y_stride);
/// The AVX-512 VNNI body of kiln_matmul_q8 for `type`, if there is one and the CPU has it: returns 1
/// after writing y, else 0 without touching it.
int kiln_matmul_q8_avx512(int type, const void *w, size_t row_bytes, int rows, int columns,
                          const kiln_q8x4_block *x, int batch, float *y, size_t y_stride);

/// 256 activations of one row quantized as llama.cpp's block_q8_K (292 bytes): values ≈ d · qs[j],
/// bsums[k] = Σ qs[16k … 16k+15]; d a full float.
typedef struct {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
} kiln_q8k_block;

/// Quantizes `rows` rows of `columns` floats (a multiple of 256), row r at x + r * x_stride, into
/// out[r * columns/256 …], as llama.cpp's quantize_row_q8_K: per block, with m the value of largest
/// magnitude (the first), q = round-to-nearest-even(x · (−127/m)) capped at 127, d = 1 / (−127/m).
void kiln_quantize_q8k(const float *x, size_t x_stride, int rows, int columns, kiln_q8k_block *out);
void kiln_quantize_q8k_scalar(const float *x, size_t x_stride, int rows, int columns, kiln_q8k_block *out);

/// Whether kiln_matmul_q8k accepts weight type `type` (Q4_K, Q6_K).
int kiln_matmul_q8k_supports(int type);

/// K-quant weights × Q8_K activations with llama.cpp's arithmetic (its AVX2 ggml_vec_dot_q4_K_q8_K /
/// q6_K_q8_K): y[b * y_stride + r] = Σ_c W[r][c] · X[b][c]; x holds batch rows of columns/256
/// blocks. The scalar body gives the same bits as the AVX2 one.
void kiln_matmul_q8k(int type, const void *w, size_t row_bytes, int rows, int columns,
                     const kiln_q8k_block *x, int batch, float *y, size_t y_stride);
void kiln_matmul_q8k_scalar(int type, const void *w, size_t row_bytes, int rows, int columns,
                            const kiln_q8k_block *x, int batch, float *y, size_t y_stride);
/// kiln_matmul_q8k without its AVX-512 body (AVX2 where the CPU has it, else portable).
void kiln_matmul_q8k_avx2(int type, const void *w, size_t row_bytes, int rows, int columns,
                          const kiln_q8k_block *x, int batch, float *y, size_t y_stride);
/// The AVX-512 VNNI body of kiln_matmul_q8k for `type` (Q4_K, Q6_K), if the CPU has it: returns 1 after
/// writing y, else 0 without touching it.
int kiln_matmul_q8k_avx512(int type, const void *w, size_t row_bytes, int rows, int columns,
                           const kiln_q8k_block *x, int batch, float *y, size_t y_stride);

/// Whether kiln_matmul_f32 accepts weight type `type`.
int kiln_matmul_f32_supports(int type);

/// Weights × f32 activations, weights dequantized in registers (F32, F16, BF16; also Q4_1 and Q8_0
/// for the comparison the kernel benchmark prints):
/// y[b * y_stride + r] = Σ_c W[r][c] · x[b * x_stride + c].
void kiln_matmul_f32(int type, const void *w, size_t row_bytes, int rows, int columns,
                     const float *x, size_t x_stride, int batch, float *y, size_t y_stride);
void kiln_matmul_f32_scalar(int type, const void *w, size_t row_bytes, int rows, int columns,
                            const float *x, size_t x_stride, int batch, float *y, size_t y_stride);

// ---------------------------------------------------------------- general matrix product

/// Whether kiln_gemm takes operands of type `type` (F32, F16, BF16).
int kiln_gemm_supports(int type);

/// C[i·ldc + j] = (accumulate ? C[i·ldc + j] : 0) + Σ_p A(i, p) · B(p, j) for i < m, j < n, p < k.
/// A(i, p) is element i·a_rs + p·a_cs of `a`, of type a_type (F32, F16 or BF16); likewise B(p, j)
/// at p·b_rs + j·b_cs of `b`. Strides are in elements. Packed and blocked for the caches; runs on
/// the calling thread (callers split C between threads). Each thread keeps one packing buffer of
/// about 2 MB, made on its first call.
void kiln_gemm(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
               int b_type, const void *b, size_t b_rs, size_t b_cs, float *c, size_t ldc, int accumulate);
void kiln_gemm_scalar(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
                      int b_type, const void *b, size_t b_rs, size_t b_cs, float *c, size_t ldc, int accumulate);

/// Products with one operand packed beforehand (kiln_gemm's panel layout, converted to float), so
/// that one packing serves many products: the attention's keys and values, shared by every block
/// of query rows, and weights packed once for every sample of a batch. Each result is bitwise
/// kiln_gemm's. Portable or AVX2 like kiln_gemm.
///
/// Floats a packing of A (m × k) takes: m rounded up to 6, times k.
size_t kiln_gemm_packed_a_count(int m, int k);
/// Floats a packing of B (k × n) takes: n rounded up to 16, times k.
size_t kiln_gemm_packed_b_count(int n, int k);
/// Packs rows row0 ..< row0 + rows of A (m × k) into A's packing at `packed`; `a` points at row
/// row0 (A(row0 + i, p) = a[i·a_rs + p·a_cs]). row0 is a multiple of 6; ranges of rows may be
/// packed separately, by different threads.
void kiln_gemm_pack_a(int m, int k, int row0, int rows, int a_type, const void *a, size_t a_rs, size_t a_cs, float *packed);
/// Packs columns column0 ..< column0 + columns of B (k × n) into B's packing; `b` points at
/// column column0. column0 is a multiple of 16; ranges may be packed separately.
void kiln_gemm_pack_b_columns(int n, int k, int column0, int columns, int b_type, const void *b, size_t b_rs, size_t b_cs,
                              float *packed);
/// All of B (k × n) packed.
void kiln_gemm_pack_b(int n, int k, int b_type, const void *b, size_t b_rs, size_t b_cs, float *packed);
/// kiln_gemm with A from a packing of the same m and k.
void kiln_gemm_prepacked_a(int m, int n, int k, const float *packed, int b_type, const void *b, size_t b_rs, size_t b_cs,
                           float *c, size_t ldc, int accumulate);
/// kiln_gemm with B from a packing of the same n and k.
void kiln_gemm_prepacked(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs, const float *packed,
                         float *c, size_t ldc, int accumulate);
/// The portable bodies of the four above (bitwise kiln_gemm_scalar's results), for tests.
void kiln_gemm_pack_a_scalar(int m, int k, int row0, int rows, int a_type, const void *a, size_t a_rs, size_t a_cs,
                             float *packed);
void kiln_gemm_pack_b_columns_scalar(int n, int k, int column0, int columns, int b_type, const void *b, size_t b_rs,
                                     size_t b_cs, float *packed);
void kiln_gemm_prepacked_a_scalar(int m, int n, int k, const float *packed, int b_type, const void *b, size_t b_rs,
                                  size_t b_cs, float *c, size_t ldc, int accumulate);
void kiln_gemm_prepacked_scalar(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
                                const float *packed, float *c, size_t ldc, int accumulate);

/// The float kernels' per-thread serial flag: while set, KernelContext runs everything on the
/// calling thread (each sample of a batch has a thread of its own).
int kiln_thread_serial(void);
void kiln_set_thread_serial(int serial);
/// The packing team (KilnTensor's `PackingTeam`) the calling thread's sample belongs to, or NULL,
/// and the thread's member number in it.
void *kiln_thread_packing_team(void);
int kiln_thread_packing_member(void);
void kiln_set_thread_packing_team(void *team, int member);

// ---------------------------------------------------------------- image-model element-wise kernels

/// x[i] = exp(scale · (x[i] − max x)) over n ≥ 1 floats; returns Σ x[i] (attention weights before
/// the division, which callers fold into the product's output).
float kiln_softmax_unnormalized(float *x, size_t n, float scale);
float kiln_softmax_unnormalized_scalar(float *x, size_t n, float scale);

/// y = x · scale + shift, then SiLU when `silu` (group normalization's affine step); y may be x.
void kiln_affine_silu(const float *x, float *y, size_t n, float scale, float shift, int silu);
void kiln_affine_silu_scalar(const float *x, float *y, size_t n, float scale, float shift, int silu);

/// GEGLU: x [rows, 2·width] (value half, then gate half, per row) → y [rows, width] = value · GELU(gate),
/// GELU with the error function (the vector body's erf is within 1.5e-7 of exact).
void kiln_geglu(const float *x, float *y, int rows, int width);
void kiln_geglu_scalar(const float *x, float *y, int rows, int width);
/// GELU with the error function in place over n floats, 0.5·x·(1 + erf(x/√2)) (PyTorch's default
/// GELU; the vector body's erf is within 1.5e-7 of exact, the portable body uses libm's erff).
void kiln_gelu(float *x, size_t n);
void kiln_gelu_scalar(float *x, size_t n);
/// GELU with PyTorch's tanh approximation in place over n floats, as x / (1 + e^(−2u)) with
/// u = √(2/π)·(x + 0.044715·x³) (0.5·(1 + tanh u) = σ(2u)), through kiln_exp.
void kiln_gelu_tanh(float *x, size_t n);
void kiln_gelu_tanh_scalar(float *x, size_t n);

/// Attention of `rows` consecutive query rows of one head of dim ≤ 8 dimensions, keys in SIMD lanes:
/// out[r·out_stride + d] = Σ_j softmax_j(scale · q_r·k_j) · v_j[d]. keys_t and values_t hold the
/// head's keys and values transposed, [dim][padded] with padded ≥ keys rounded up to 8 (and zeros
/// past `keys`). first_visible < 0: every row sees all keys; else row r sees keys 0 ..< first_visible + r
/// (causal, first_visible = the block's first query index + 1). scores: 2·padded floats of workspace.
void kiln_attention_small_head(const float *q, size_t q_stride, int rows, const float *keys_t, const float *values_t,
                               size_t padded, int keys, int dim, float scale, int first_visible, float *scores,
                               float *out, size_t out_stride);
void kiln_attention_small_head_scalar(const float *q, size_t q_stride, int rows, const float *keys_t,
                                      const float *values_t, size_t padded, int keys, int dim, float scale,
                                      int first_visible, float *scores, float *out, size_t out_stride);

// ---------------------------------------------------------------- Winograd F(2×2, 3×3)
// For 3×3, stride-1, padding-1 convolutions of [channels, height, width] maps; tiles = ⌈h/2⌉·⌈w/2⌉,
// tile t = ty·⌈w/2⌉ + tx covers output rows 2ty…2ty+1, columns 2tx…2tx+1. Element e (0…15) of the
// transformed tile lives in matrix e, `stride` floats after matrix e − 1. The input transform has an
// AVX2 body (eight tiles of a row at once); the products between them run on kiln_gemm.

/// V[e][c][t − t0] = (Bᵀ d B)[e] for channels c0 ..< c1 and the tiles of tile rows ty0 ..< ty1 (a
/// band; t0 its first tile), d the zero-padded 4×4 input patch of tile t.
void kiln_winograd_input(const float *input, int height, int width, int ty0, int ty1, int c0, int c1, float *v, size_t v_stride);
void kiln_winograd_input_scalar(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                float *v, size_t v_stride);
/// U[e][k − k0][c] = (G g Gᵀ)[e] for output channels k0 ..< k1; weights [out][in][3][3] of `type`.
void kiln_winograd_weights(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride);
void kiln_winograd_weights_scalar(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride);
/// output[k] = Aᵀ M[·][k − k0] A + bias[k] for channels k0 ..< k1 over the band of tile rows
/// ty0 ..< ty1 (M[e][k − k0][t − t0]; bias may be NULL).
void kiln_winograd_output(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                          const float *bias, float *output);

// ---------------------------------------------------------------- Winograd F(4×4, 3×3)
// The same layout with 6×6 transformed tiles: tiles = ⌈h/4⌉·⌈w/4⌉, tile t = ty·⌈w/4⌉ + tx covers
// output rows 4ty…4ty+3, columns 4tx…4tx+3, element e (0…35) in matrix e. Points 0, ±1, ±2, ∞.

/// V[e][c][t − t0] = (Bᵀ d B)[e] for channels c0 ..< c1 and tile rows ty0 ..< ty1, d the
/// zero-padded 6×6 input patch of tile t (rows 4ty − 1 …, columns 4tx − 1 …).
void kiln_winograd4_input(const float *input, int height, int width, int ty0, int ty1, int c0, int c1, float *v, size_t v_stride);
void kiln_winograd4_input_scalar(const float *input, int height, int width, int ty0, int ty1, int c0, int c1,
                                 float *v, size_t v_stride);
/// U[e][k − k0][c] = (G g Gᵀ)[e] for output channels k0 ..< k1; weights [out][in][3][3] of `type`.
void kiln_winograd4_weights(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride);
void kiln_winograd4_weights_scalar(int type, const void *weights, int in_channels, int k0, int k1, float *u, size_t u_stride);
/// output[k] = Aᵀ M[·][k − k0] A + bias[k] for channels k0 ..< k1 over tile rows ty0 ..< ty1.
void kiln_winograd4_output(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                           const float *bias, float *output);
void kiln_winograd4_output_scalar(const float *m, size_t m_stride, int k0, int k1, int height, int width, int ty0, int ty1,
                                  const float *bias, float *output);

// ---------------------------------------------------------------- vector operations
// All pointers address `n` floats unless stated; outputs may alias inputs.

/// RMSNorm of `rows` rows of `n`: out = x / sqrt(mean(x²) + eps) · w (w may be NULL); sums in double.
void kiln_rms_norm(const float *x, const float *w, int n, int rows, float eps, float *out);
void kiln_rms_norm_scalar(const float *x, const float *w, int n, int rows, float eps, float *out);

/// out = a + b.
void kiln_add(const float *a, const float *b, size_t n, float *out);
void kiln_add_scalar(const float *a, const float *b, size_t n, float *out);

/// out = silu(gate) · up, silu(g) = g / (1 + exp(−g)).
void kiln_swiglu(const float *gate, const float *up, size_t n, float *out);
void kiln_swiglu_scalar(const float *gate, const float *up, size_t n, float *out);

/// x = silu(x).
void kiln_silu(float *x, size_t n);
void kiln_silu_scalar(float *x, size_t n);

/// Softmax in place over n ≥ 1 floats (max subtracted; −inf gives 0).
void kiln_softmax(float *x, size_t n);
void kiln_softmax_scalar(float *x, size_t n);

/// exp of each element (the vector exponential the kernels use; exported for tests).
void kiln_exp(const float *x, size_t n, float *out);
void kiln_exp_scalar(const float *x, size_t n, float *out);

/// RoPE: rotates `heads` heads of `head_dim` floats in place; pair i < dims/2 is (2i, 2i+1)
/// (neox = 0) or (i, i + dims/2) (neox = 1), by the angle with cosine cos[i] and sine sin[i].
void kiln_rope(float *x, int heads, int head_dim, int dims, const float *cos, const float *sin, int neox);
void kiln_rope_scalar(float *x, int heads, int head_dim, int dims, const float *cos, const float *sin, int neox);

/// Float ↔ IEEE half (round to nearest even).
void kiln_float_to_half(const float *x, size_t n, uint16_t *out);
void kiln_half_to_float(const uint16_t *x, size_t n, float *out);

// ---------------------------------------------------------------- attention

/// Online-softmax attention of one query head over `count` consecutive cache positions.
/// state holds [running max, running sum, accumulator[dim]]; start it with kiln_attention_begin,
/// feed any number of spans in position order, end with kiln_attention_finish.
/// keys/values: position t's vector at keys + t * stride elements, of f32 (f16 = 0) or half (f16 = 1).
void kiln_attention_begin(float *state, int dim);
void kiln_attention_span(const float *q, const void *keys, const void *values, size_t stride, int count,
                         int dim, float scale, int f16, float *state);
void kiln_attention_span_scalar(const float *q, const void *keys, const void *values, size_t stride, int count,
                                int dim, float scale, int f16, float *state);
/// As kiln_attention_span over half keys and values, with llama.cpp's CPU flash-attention
/// arithmetic (the query rounded to halves, f16 dot products, one key at a time, libm expf, the
/// value accumulator rounded to halves after every key), so that results match its bits. Same
/// state layout; the accumulator holds half values. dim at most 256.
void kiln_attention_span_half(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                              int count, int dim, float scale, float *state);
void kiln_attention_span_half_scalar(const float *q, const uint16_t *keys, const uint16_t *values, size_t stride,
                                     int count, int dim, float scale, float *state);
/// llama.cpp's tiled flash attention (what it runs for steps of 64 or more query tokens), for
/// `rows` ≤ 64 queries of one head at positions first_position ..< first_position + rows (query i
/// at q + i·q_stride), each over keys 0 ... its position: key tiles of 64 positions aligned at 0,
/// float scores and accumulator, ggml's vector exp for the weights. The key and value of position t
/// are at key_blocks[t / block_size] + (t % block_size)·stride (halves). Writes out + i·out_stride.
/// A query's result does not depend on which other queries are in the call. dim ≤ 256 (about 200 KB of stack)
/// (kiln_attention_tiled_supports). window > 0: query i sees only the keys from its position − window + 1
/// on (the others masked, as llama.cpp's sliding-window mask); 0: all keys up to its position.
int kiln_attention_tiled_supports(int dim);
void kiln_attention_tiled(const float *q, size_t q_stride, int rows, int first_position,
                          const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                          int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                          int window);
void kiln_attention_tiled_scalar(const float *q, size_t q_stride, int rows, int first_position,
                                 const uint16_t *const *key_blocks, const uint16_t *const *value_blocks,
                                 int block_size, size_t stride, int dim, float scale, float *out, size_t out_stride,
                                 int window);

/// Folds one online-softmax state (from) into another (into), both [max, sum, acc[dim]], as
/// llama.cpp reduces the parts of a split key range: an empty part is skipped, both sides are
/// rescaled to the larger maximum with libm expf, acc = fma(acc, scale_into, from_acc · scale_from).
void kiln_attention_merge(float *into, const float *from, int dim);

/// out[dim] = accumulator / running sum.
void kiln_attention_finish(const float *state, int dim, float *out);

#endif
