// General matrix product for the image models: C (+)= A · B with either operand in f32, f16 or bf16
// and any row/column strides, so that convolution weights, linear weights and attention operands are
// all read where they lie, in their stored type (never widened to a float copy in memory).
//
// Blocked as in the BLIS papers (Van Zee & van de Geijn): for each NC-wide column block of B and each
// KC-deep slice of k, B's block is packed (and converted to float) into panels of NR columns; for each
// MC-tall row block of A, A's block is packed into panels of MR rows; then an MR×NR micro-kernel keeps
// its C tile in registers for the whole slice. The packed A block stays in L2, a B panel in L1.
// Packing also pads ragged edges with zeros, so the micro-kernel always runs full tiles.
#include <pthread.h>
#include <stdlib.h>
#include "kiln_kernels.h"
#include "kiln_internal.h"

enum { GEMM_MR = 6, GEMM_NR = 16, GEMM_KC = 256, GEMM_MC = 120, GEMM_NC = 2048 };
#define GEMM_PACK_FLOATS ((size_t)GEMM_KC * GEMM_NC + (size_t)GEMM_MC * GEMM_KC + 16)

static _Thread_local int thread_serial = 0;
int kiln_thread_serial(void) { return thread_serial; }
void kiln_set_thread_serial(int serial) { thread_serial = serial; }
static _Thread_local void *thread_packing_team = 0;
static _Thread_local int thread_packing_member = 0;
void *kiln_thread_packing_team(void) { return thread_packing_team; }
int kiln_thread_packing_member(void) { return thread_packing_member; }
void kiln_set_thread_packing_team(void *team, int member) { thread_packing_team = team; thread_packing_member = member; }

int kiln_gemm_supports(int type) {
    return type == KILN_TYPE_F32 || type == KILN_TYPE_F16 || type == KILN_TYPE_BF16;
}

// ---------------------------------------------------------------- per-thread packing buffers

static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

static void pack_key_create(void) { pthread_key_create(&pack_key, free); }

/// The calling thread's packing buffer (GEMM_PACK_FLOATS floats, 64-byte aligned), made on the
/// thread's first product and freed when the thread ends: products themselves allocate nothing.
static float *pack_buffer(void) {
    pthread_once(&pack_once, pack_key_create);
    float *buffer = (float *)pthread_getspecific(pack_key);
    if (!buffer) {
        if (posix_memalign((void **)&buffer, 64, GEMM_PACK_FLOATS * sizeof(float)) != 0) return NULL;
        pthread_setspecific(pack_key, buffer);
    }
    return buffer;
}

// ---------------------------------------------------------------- portable body

static float element(int type, const void *base, size_t index) {
    const uint8_t *bytes = (const uint8_t *)base;
    switch (type) {
    case KILN_TYPE_F16: return kiln_load_half(bytes + 2 * index);
    case KILN_TYPE_BF16: {
        uint32_t bits = (uint32_t)kiln_load_u16(bytes + 2 * index) << 16;
        float v;
        memcpy(&v, &bits, 4);
        return v;
    }
    default: {
        float v;
        memcpy(&v, bytes + 4 * index, 4);
        return v;
    }
    }
}

/// Ap[panel][p][0..MR) = A(i0 + panel·MR + r, p0 + p), zeros past mc.
static void pack_a_scalar(int type, const void *a, size_t rs, size_t cs, int i0, int p0, int mc, int kc, float *ap) {
    for (int panel = 0; panel < mc; panel += GEMM_MR)
        for (int p = 0; p < kc; p++)
            for (int r = 0; r < GEMM_MR; r++, ap++)
                *ap = panel + r < mc ? element(type, a, (size_t)(i0 + panel + r) * rs + (size_t)(p0 + p) * cs) : 0;
}

/// Bp[panel][p][0..NR) = B(p0 + p, j0 + panel·NR + q), zeros past nc.
static void pack_b_scalar(int type, const void *b, size_t rs, size_t cs, int p0, int j0, int kc, int nc, float *bp) {
    for (int panel = 0; panel < nc; panel += GEMM_NR)
        for (int p = 0; p < kc; p++)
            for (int q = 0; q < GEMM_NR; q++, bp++)
                *bp = panel + q < nc ? element(type, b, (size_t)(p0 + p) * rs + (size_t)(j0 + panel + q) * cs) : 0;
}

static void kernel_scalar(int kc, const float *ap, const float *bp, float *c, size_t ldc, int add, int mr, int nr) {
    float acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int p = 0; p < kc; p++, ap += GEMM_MR, bp += GEMM_NR)
        for (int r = 0; r < GEMM_MR; r++)
            for (int q = 0; q < GEMM_NR; q++) acc[r][q] += ap[r] * bp[q];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) c[r * ldc + q] = add ? c[r * ldc + q] + acc[r][q] : acc[r][q];
}

typedef void (*pack_a_fn)(int, const void *, size_t, size_t, int, int, int, int, float *);
typedef void (*pack_b_fn)(int, const void *, size_t, size_t, int, int, int, int, float *);
typedef void (*kernel_fn)(int, const float *, const float *, float *, size_t, int, int, int);
/// A micro-kernel over two consecutive A panels (2·GEMM_MR rows) at once; `mr` counts both.
typedef void (*pair_kernel_fn)(int, const float *, const float *, const float *, float *, size_t, int, int, int);

/// The micro-kernel over one packed block: A's mc × kc rows (panels of GEMM_MR at ap) times B's
/// kc × nc columns (panels of GEMM_NR at bp) into C's mc × nc block at c.
/// `pair`, when given, takes two panels at a time while more than one is left.
KILN_INLINE void multiply_packed_block(kernel_fn kernel, pair_kernel_fn pair, int mc, int nc, int kc, const float *ap,
                                       const float *bp, float *c, size_t ldc, int add) {
    for (int jr = 0; jr < nc; jr += GEMM_NR) {
        const int nr = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
        for (int ir = 0; ir < mc;) {
            if (pair && mc - ir > GEMM_MR) {
                const int mr = mc - ir < 2 * GEMM_MR ? mc - ir : 2 * GEMM_MR;
                pair(kc, ap + (size_t)ir * kc, ap + (size_t)(ir + GEMM_MR) * kc, bp + (size_t)jr * kc,
                     c + (size_t)ir * ldc + jr, ldc, add, mr, nr);
                ir += 2 * GEMM_MR;
                continue;
            }
            const int mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
            kernel(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc, c + (size_t)ir * ldc + jr, ldc, add, mr, nr);
            ir += GEMM_MR;
        }
    }
}

/// The blocked loops, shared by both bodies; only packing and the micro-kernel differ. With
/// `a_packed` (a whole packing of A, see kiln_gemm_pack_a) A's blocks are read from it instead of
/// being packed here.
static void gemm_blocked(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs, const float *a_packed,
                         int b_type, const void *b, size_t b_rs, size_t b_cs, float *c, size_t ldc, int accumulate,
                         pack_a_fn pack_a, pack_b_fn pack_b, kernel_fn kernel, pair_kernel_fn pair) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    float *buffer = pack_buffer();
    if (!buffer) return;
    float *bp = buffer, *block = buffer + (size_t)GEMM_KC * GEMM_NC;
    const size_t m6 = (size_t)(m + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    for (int j0 = 0; j0 < n; j0 += GEMM_NC) {
        const int nc = n - j0 < GEMM_NC ? n - j0 : GEMM_NC;
        for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
            const int kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
            const int add = accumulate || p0 > 0;
            pack_b(b_type, b, b_rs, b_cs, p0, j0, kc, nc, bp);
            for (int i0 = 0; i0 < m; i0 += GEMM_MC) {
                const int mc = m - i0 < GEMM_MC ? m - i0 : GEMM_MC;
                const float *ap = block;
                if (a_packed) ap = a_packed + m6 * p0 + (size_t)i0 * kc;
                else pack_a(a_type, a, a_rs, a_cs, i0, p0, mc, kc, block);
                multiply_packed_block(kernel, pair, mc, nc, kc, ap, bp, c + (size_t)i0 * ldc + j0, ldc, add);
            }
        }
    }
}

void kiln_gemm_scalar(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
                      int b_type, const void *b, size_t b_rs, size_t b_cs, float *c, size_t ldc, int accumulate) {
    if (!kiln_gemm_supports(a_type) || !kiln_gemm_supports(b_type)) return;
    gemm_blocked(m, n, k, a_type, a, a_rs, a_cs, NULL, b_type, b, b_rs, b_cs, c, ldc, accumulate,
                 pack_a_scalar, pack_b_scalar, kernel_scalar, NULL);
}

// ---------------------------------------------------------------- AVX2 / FMA / F16C body

#ifdef KILN_X86
/// Eight consecutive elements as floats (F16C for half, a shift for bfloat16).
KILN_AVX2_INLINE __m256 load8_as_float(int type, const void *base, size_t index) {
    const uint8_t *bytes = (const uint8_t *)base;
    if (type == KILN_TYPE_F32) return _mm256_loadu_ps((const float *)(bytes + 4 * index));
    const __m128i half = _mm_loadu_si128((const __m128i *)(bytes + 2 * index));
    if (type == KILN_TYPE_F16) return _mm256_cvtph_ps(half);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

/// 8×8 transpose of rows r[0..8) in place.
KILN_AVX2_INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

KILN_AVX2 static void pack_a_avx2(int type, const void *a, size_t rs, size_t cs, int i0, int p0, int mc, int kc, float *ap) {
    if (cs != 1 || type == KILN_TYPE_F32 && rs == 1) {
        pack_a_scalar(type, a, rs, cs, i0, p0, mc, kc, ap);
        return;
    }
    // Rows with k contiguous (weights [out, in], activations [tokens, features]): eight k at a
    // time from each of the panel's rows, converted, then scattered into the interleaved panel.
    for (int panel = 0; panel < mc; panel += GEMM_MR) {
        const int rows = mc - panel < GEMM_MR ? mc - panel : GEMM_MR;
        int p = 0;
        for (; p + 8 <= kc; p += 8, ap += 8 * GEMM_MR) {
            // Six rows (and two of zeros) transposed in registers; column q's six values are stored
            // with an 8-wide store at ap + 6q, whose last two lanes the next store overwrites; the
            // last column stores exactly six, so nothing spills past the block (threads may be
            // packing the panels that follow into the same buffer).
            __m256 t[8];
            for (int r = 0; r < GEMM_MR; r++)
                t[r] = r < rows ? load8_as_float(type, a, (size_t)(i0 + panel + r) * rs + p0 + p) : _mm256_setzero_ps();
            t[6] = t[7] = _mm256_setzero_ps();
            transpose8(t);
            for (int q = 0; q < 7; q++) _mm256_storeu_ps(ap + q * GEMM_MR, t[q]);
            _mm_storeu_ps(ap + 7 * GEMM_MR, _mm256_castps256_ps128(t[7]));
            _mm_storel_pi((__m64 *)(ap + 7 * GEMM_MR + 4), _mm256_extractf128_ps(t[7], 1));
        }
        for (; p < kc; p++, ap += GEMM_MR)
            for (int r = 0; r < GEMM_MR; r++)
                ap[r] = r < rows ? element(type, a, (size_t)(i0 + panel + r) * rs + p0 + p) : 0;
    }
}

KILN_AVX2 static void pack_b_avx2(int type, const void *b, size_t rs, size_t cs, int p0, int j0, int kc, int nc, float *bp) {
    if (cs == 1) {
        // Rows with n contiguous (im2col columns, attention values): 16 floats per row of a panel.
        for (int panel = 0; panel < nc; panel += GEMM_NR) {
            const int width = nc - panel < GEMM_NR ? nc - panel : GEMM_NR;
            for (int p = 0; p < kc; p++, bp += GEMM_NR) {
                const size_t row = (size_t)(p0 + p) * rs + j0 + panel;
                if (width == GEMM_NR) {
                    _mm256_storeu_ps(bp, load8_as_float(type, b, row));
                    _mm256_storeu_ps(bp + 8, load8_as_float(type, b, row + 8));
                } else {
                    for (int q = 0; q < GEMM_NR; q++) bp[q] = q < width ? element(type, b, row + q) : 0;
                }
            }
        }
        return;
    }
    if (rs == 1) {
        // Columns with k contiguous (linear weights [out, in], attention keys): 8×8 blocks transposed.
        for (int panel = 0; panel < nc; panel += GEMM_NR) {
            const int width = nc - panel < GEMM_NR ? nc - panel : GEMM_NR;
            int p = 0;
            for (; p + 8 <= kc; p += 8) {
                for (int half = 0; half < GEMM_NR; half += 8) {
                    __m256 r[8];
                    for (int q = 0; q < 8; q++)
                        r[q] = half + q < width ? load8_as_float(type, b, (size_t)(j0 + panel + half + q) * cs + p0 + p)
                                                : _mm256_setzero_ps();
                    transpose8(r);
                    for (int q = 0; q < 8; q++) _mm256_storeu_ps(bp + (size_t)(p + q) * GEMM_NR + half, r[q]);
                }
            }
            for (; p < kc; p++)
                for (int q = 0; q < GEMM_NR; q++)
                    bp[(size_t)p * GEMM_NR + q] = q < width ? element(type, b, (size_t)(j0 + panel + q) * cs + p0 + p) : 0;
            bp += (size_t)kc * GEMM_NR;
        }
        return;
    }
    pack_b_scalar(type, b, rs, cs, p0, j0, kc, nc, bp);
}

/// A tile of at most 8 columns (head dim 40's last panel): only the panel's first half is
/// multiplied, half the work of a full tile, whose other half would be the packing's zeros.
KILN_AVX2 static void kernel_avx2_narrow(int kc, const float *ap, const float *bp, float *c, size_t ldc, int add, int mr, int nr) {
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps();
    __m256 c3 = _mm256_setzero_ps(), c4 = _mm256_setzero_ps(), c5 = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++, ap += GEMM_MR, bp += GEMM_NR) {
        const __m256 b0 = _mm256_loadu_ps(bp);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap), b0, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + 1), b0, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + 2), b0, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + 3), b0, c3);
        c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + 4), b0, c4);
        c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + 5), b0, c5);
    }
    const __m256 tile[GEMM_MR] = {c0, c1, c2, c3, c4, c5};
    float values[8] __attribute__((aligned(32)));
    for (int r = 0; r < mr; r++) {
        float *row = c + r * ldc;
        if (nr == 8) {
            _mm256_storeu_ps(row, add ? _mm256_add_ps(tile[r], _mm256_loadu_ps(row)) : tile[r]);
            continue;
        }
        _mm256_store_ps(values, tile[r]);
        for (int q = 0; q < nr; q++) row[q] = add ? row[q] + values[q] : values[q];
    }
}

KILN_AVX2 static void kernel_avx2(int kc, const float *ap, const float *bp, float *c, size_t ldc, int add, int mr, int nr) {
    if (nr <= 8) {
        kernel_avx2_narrow(kc, ap, bp, c, ldc, add, mr, nr);
        return;
    }
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++, ap += GEMM_MR, bp += GEMM_NR) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
        __m256 a = _mm256_broadcast_ss(ap);
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(ap + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(ap + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(ap + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(ap + 4);
        c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(ap + 5);
        c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    __m256 tile[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (nr == GEMM_NR) {
        for (int r = 0; r < mr; r++) {
            float *row = c + r * ldc;
            __m256 low = tile[r][0], high = tile[r][1];
            if (add) {
                low = _mm256_add_ps(low, _mm256_loadu_ps(row));
                high = _mm256_add_ps(high, _mm256_loadu_ps(row + 8));
            }
            _mm256_storeu_ps(row, low);
            _mm256_storeu_ps(row + 8, high);
        }
        return;
    }
    float values[GEMM_MR][GEMM_NR] __attribute__((aligned(32)));
    for (int r = 0; r < mr; r++) {
        _mm256_store_ps(values[r], tile[r][0]);
        _mm256_store_ps(values[r] + 8, tile[r][1]);
        float *row = c + r * ldc;
        for (int q = 0; q < nr; q++) row[q] = add ? row[q] + values[r][q] : values[r][q];
    }
}

/// The AVX-512 tile: twelve rows (two A panels) by sixteen columns, one 512-bit accumulator per row.
/// Six accumulators, as one panel gives, are too few chains to keep two 512-bit FMA ports busy (an
/// AVX-512 6×16 tile measured slower than the AVX2 body); twelve are enough. Every element is the
/// same chain of fused multiply-adds in k order as in kernel_avx2, so the bits are the same.
KILN_AVX512 static void kernel_avx512_pair(int kc, const float *ap0, const float *ap1, const float *bp, float *c, size_t ldc,
                                          int add, int mr, int nr) {
    __m512 acc[2 * GEMM_MR];
    for (int r = 0; r < 2 * GEMM_MR; r++) acc[r] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++, ap0 += GEMM_MR, ap1 += GEMM_MR, bp += GEMM_NR) {
        const __m512 b = _mm512_loadu_ps(bp);
        for (int r = 0; r < GEMM_MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap0[r]), b, acc[r]);
        for (int r = 0; r < GEMM_MR; r++) acc[GEMM_MR + r] = _mm512_fmadd_ps(_mm512_set1_ps(ap1[r]), b, acc[GEMM_MR + r]);
    }
    const __mmask16 columns = (__mmask16)((1u << nr) - 1);
    for (int r = 0; r < mr; r++) {
        float *row = c + r * ldc;
        const __m512 value = add ? _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(columns, row)) : acc[r];
        _mm512_mask_storeu_ps(row, columns, value);
    }
}

/// The pair kernel where the CPU's AVX-512 bodies are on (kiln_avx512_active), else none.
static pair_kernel_fn wide_pair_kernel(void) { return kiln_avx512_active() ? kernel_avx512_pair : NULL; }
#endif

void kiln_gemm(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
               int b_type, const void *b, size_t b_rs, size_t b_cs, float *c, size_t ldc, int accumulate) {
    if (!kiln_gemm_supports(a_type) || !kiln_gemm_supports(b_type)) return;
#ifdef KILN_X86
    if (kiln_simd_active()) {
        gemm_blocked(m, n, k, a_type, a, a_rs, a_cs, NULL, b_type, b, b_rs, b_cs, c, ldc, accumulate,
                     pack_a_avx2, pack_b_avx2, kernel_avx2, wide_pair_kernel());
        return;
    }
#endif
    kiln_gemm_scalar(m, n, k, a_type, a, a_rs, a_cs, b_type, b, b_rs, b_cs, c, ldc, accumulate);
}

// ---------------------------------------------------------------- products with an operand packed once
//
// A packed operand holds every depth slice in the order the blocked loops use them: slice p0 starts
// at (rows or columns rounded up to the panel) · p0, and panel i within a slice at i · kc. So the
// packing can be made in pieces (ranges of whole panels, by different threads) and shared by any
// number of products, each bitwise the same as kiln_gemm's.

size_t kiln_gemm_packed_a_count(int m, int k) { return (size_t)((m + GEMM_MR - 1) / GEMM_MR * GEMM_MR) * (size_t)k; }
size_t kiln_gemm_packed_b_count(int n, int k) { return (size_t)((n + GEMM_NR - 1) / GEMM_NR * GEMM_NR) * (size_t)k; }

static void pack_a_rows(pack_a_fn pack_a, int m, int k, int row0, int rows, int a_type, const void *a, size_t a_rs,
                        size_t a_cs, float *packed) {
    const size_t m6 = (size_t)(m + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
        const int kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
        pack_a(a_type, a, a_rs, a_cs, 0, p0, rows, kc, packed + m6 * p0 + (size_t)row0 * kc);
    }
}

static void pack_b_columns(pack_b_fn pack_b, int n, int k, int column0, int columns, int b_type, const void *b,
                           size_t b_rs, size_t b_cs, float *packed) {
    const size_t n16 = (size_t)(n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
        const int kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
        pack_b(b_type, b, b_rs, b_cs, p0, 0, kc, columns, packed + n16 * p0 + (size_t)column0 * kc);
    }
}

/// The loops with B's packing given (B's slice is used whole: callers keep n moderate or accept
/// that the slice lives in the last-level cache).
static void gemm_prepacked(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs, const float *packed,
                           float *c, size_t ldc, int accumulate, pack_a_fn pack_a, kernel_fn kernel,
                           pair_kernel_fn pair) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    float *buffer = pack_buffer();
    if (!buffer) return;
    float *ap = buffer + (size_t)GEMM_KC * GEMM_NC;
    const size_t n16 = (size_t)(n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
        const int kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
        const int add = accumulate || p0 > 0;
        const float *bp = packed + n16 * p0;
        for (int i0 = 0; i0 < m; i0 += GEMM_MC) {
            const int mc = m - i0 < GEMM_MC ? m - i0 : GEMM_MC;
            pack_a(a_type, a, a_rs, a_cs, i0, p0, mc, kc, ap);
            multiply_packed_block(kernel, pair, mc, n, kc, ap, bp, c + (size_t)i0 * ldc, ldc, add);
        }
    }
}

#ifdef KILN_X86
#define KILN_GEMM_BODY(avx2_call, scalar_call) \
    do { if (kiln_simd_active()) { avx2_call; } else { scalar_call; } } while (0)
#else
#define KILN_GEMM_BODY(avx2_call, scalar_call) do { scalar_call; } while (0)
#endif

void kiln_gemm_pack_a(int m, int k, int row0, int rows, int a_type, const void *a, size_t a_rs, size_t a_cs, float *packed) {
    if (!kiln_gemm_supports(a_type) || rows <= 0 || k <= 0) return;
    KILN_GEMM_BODY(pack_a_rows(pack_a_avx2, m, k, row0, rows, a_type, a, a_rs, a_cs, packed),
                   pack_a_rows(pack_a_scalar, m, k, row0, rows, a_type, a, a_rs, a_cs, packed));
}

void kiln_gemm_pack_b_columns(int n, int k, int column0, int columns, int b_type, const void *b, size_t b_rs, size_t b_cs,
                              float *packed) {
    if (!kiln_gemm_supports(b_type) || columns <= 0 || k <= 0) return;
    KILN_GEMM_BODY(pack_b_columns(pack_b_avx2, n, k, column0, columns, b_type, b, b_rs, b_cs, packed),
                   pack_b_columns(pack_b_scalar, n, k, column0, columns, b_type, b, b_rs, b_cs, packed));
}

void kiln_gemm_pack_b(int n, int k, int b_type, const void *b, size_t b_rs, size_t b_cs, float *packed) {
    kiln_gemm_pack_b_columns(n, k, 0, n, b_type, b, b_rs, b_cs, packed);
}

void kiln_gemm_prepacked_a(int m, int n, int k, const float *packed, int b_type, const void *b, size_t b_rs, size_t b_cs,
                           float *c, size_t ldc, int accumulate) {
    if (!kiln_gemm_supports(b_type)) return;
    KILN_GEMM_BODY(gemm_blocked(m, n, k, KILN_TYPE_F32, NULL, 0, 0, packed, b_type, b, b_rs, b_cs, c, ldc, accumulate, NULL, pack_b_avx2, kernel_avx2, wide_pair_kernel()),
                   gemm_blocked(m, n, k, KILN_TYPE_F32, NULL, 0, 0, packed, b_type, b, b_rs, b_cs, c, ldc, accumulate, NULL, pack_b_scalar, kernel_scalar, NULL));
}

void kiln_gemm_prepacked(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs, const float *packed,
                         float *c, size_t ldc, int accumulate) {
    if (!kiln_gemm_supports(a_type)) return;
    KILN_GEMM_BODY(gemm_prepacked(m, n, k, a_type, a, a_rs, a_cs, packed, c, ldc, accumulate, pack_a_avx2, kernel_avx2, wide_pair_kernel()),
                   gemm_prepacked(m, n, k, a_type, a, a_rs, a_cs, packed, c, ldc, accumulate, pack_a_scalar, kernel_scalar, NULL));
}

// The portable bodies of the four above, for tests on machines whose dispatch picks AVX2.
void kiln_gemm_pack_a_scalar(int m, int k, int row0, int rows, int a_type, const void *a, size_t a_rs, size_t a_cs,
                             float *packed) {
    if (kiln_gemm_supports(a_type) && rows > 0 && k > 0) pack_a_rows(pack_a_scalar, m, k, row0, rows, a_type, a, a_rs, a_cs, packed);
}

void kiln_gemm_pack_b_columns_scalar(int n, int k, int column0, int columns, int b_type, const void *b, size_t b_rs,
                                     size_t b_cs, float *packed) {
    if (kiln_gemm_supports(b_type) && columns > 0 && k > 0)
        pack_b_columns(pack_b_scalar, n, k, column0, columns, b_type, b, b_rs, b_cs, packed);
}

void kiln_gemm_prepacked_a_scalar(int m, int n, int k, const float *packed, int b_type, const void *b, size_t b_rs,
                                  size_t b_cs, float *c, size_t ldc, int accumulate) {
    if (kiln_gemm_supports(b_type))
        gemm_blocked(m, n, k, KILN_TYPE_F32, NULL, 0, 0, packed, b_type, b, b_rs, b_cs, c, ldc, accumulate, NULL, pack_b_scalar, kernel_scalar, NULL);
}

void kiln_gemm_prepacked_scalar(int m, int n, int k, int a_type, const void *a, size_t a_rs, size_t a_cs,
                                const float *packed, float *c, size_t ldc, int accumulate) {
    if (kiln_gemm_supports(a_type))
        gemm_prepacked(m, n, k, a_type, a, a_rs, a_cs, packed, c, ldc, accumulate, pack_a_scalar, kernel_scalar, NULL);
}
