import CKilnKernels

/// Dense float matrix products (linear layers, convolutions through im2col, attention) on
/// CKilnKernels' packed, cache-blocked product (`kiln_gemm`): C = A · B where A and B are
/// `MatrixOperand`s read in place in their stored type (f32, f16 or bf16), so weights stay in the
/// memory-mapped file. Large products are split between the threads of the `KernelContext` given.
/// (GGML weight matrices, quantized or not, multiply activation rows through `Matmul`.)
public enum GEMM {
    /// Products smaller than this many multiply-adds run on the calling thread: below it, handing
    /// work to other threads costs more than it saves.
    public static let parallelThreshold = 1 << 20

    /// C[m×n] = A[m×k] · B[k×n] (+ C's old values with `accumulate`); C's rows are `ldc` apart
    /// (default n). Split along the longer side of C between the context's threads.
    public static func multiply(
        _ a: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false, context: KernelContext
    ) {
        let ldc = ldc ?? n
        guard m > 0, n > 0 else { return }
        // The split side is re-packed by no one; the other operand is packed once per part, so
        // parts stay large (≥ 48 rows or columns).
        let splitRows = m > n
        let extent = splitRows ? m : n
        let pieces = split(extent, align: splitRows ? 6 : 16, work: m * n * max(k, 1), context: context)
        if pieces.count <= 1 {
            multiplyOnThisThread(a, b, into: c, m: m, n: n, k: k, ldc: ldc, accumulate: accumulate)
            return
        }
        context.run(pieces.count) { index in
            let start = index * pieces.chunk, size = min(extent, start + pieces.chunk) - start
            if splitRows {
                multiplyOnThisThread(
                    a.offset(row: start, column: 0), b, into: c + start * ldc,
                    m: size, n: n, k: k, ldc: ldc, accumulate: accumulate)
            } else {
                multiplyOnThisThread(
                    a, b.offset(row: 0, column: start), into: c + start,
                    m: m, n: size, k: k, ldc: ldc, accumulate: accumulate)
            }
        }
    }

    /// `multiply` on the calling thread only (for callers that already split work between threads).
    @inline(__always)
    public static func multiplyOnThisThread(
        _ a: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false
    ) {
        kiln_gemm(
            Int32(m), Int32(n), Int32(k), a.type.kernelType, a.base, a.rowStride, a.columnStride,
            b.type.kernelType, b.base, b.rowStride, b.columnStride, c, ldc ?? n, accumulate ? 1 : 0)
    }

    /// The portable C body of the product (what runs on CPUs without AVX2), for tests.
    public static func multiplyPortable(
        _ a: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int? = nil, accumulate: Bool = false
    ) {
        kiln_gemm_scalar(
            Int32(m), Int32(n), Int32(k), a.type.kernelType, a.base, a.rowStride, a.columnStride,
            b.type.kernelType, b.base, b.rowStride, b.columnStride, c, ldc ?? n, accumulate ? 1 : 0)
    }

    /// The plain triple loop, in Double, that the products are tested against: C[m×n] = A · B.
    public static func referenceMultiply(_ a: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a.element(row: i, column: p)) * Double(b.element(row: p, column: j)) }
                c[i * n + j] = Float(sum)
            }
        }
    }

    /// C[m×n] = A[m×k] · B[n×k]ᵀ for float rows (`lda`, `ldb`, `ldc` apart; defaults k, k, n), then
    /// `+ columnBias[j]` and `+ rowBias[i]` where given; with `accumulate` added to C's old values.
    public static func multiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil,
        columnBias: UnsafePointer<Float>? = nil, rowBias: UnsafePointer<Float>? = nil,
        accumulate: Bool = false, context: KernelContext
    ) {
        let ldc = ldc ?? n
        guard m > 0, n > 0 else { return }
        let biased = columnBias != nil || rowBias != nil
        if biased {
            for i in 0..<m {
                let row = c + i * ldc
                let shift = rowBias?[i] ?? 0
                for j in 0..<n { row[j] = (accumulate ? row[j] : 0) + shift + (columnBias?[j] ?? 0) }
            }
        }
        multiply(
            MatrixOperand(a, rowStride: lda ?? k), MatrixOperand(b, rowStride: ldb ?? k).transposed, into: c,
            m: m, n: n, k: k, ldc: ldc, accumulate: accumulate || biased, context: context)
    }

    /// The plain triple loop, in Double, that the optimized product is tested against.
    public static func referenceMultiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int
    ) {
        referenceMultiply(MatrixOperand(a, rowStride: k), MatrixOperand(b, rowStride: k).transposed, into: c, m: m, n: n, k: k)
    }
}
