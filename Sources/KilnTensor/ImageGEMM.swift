import CKilnKernels
import Dispatch

/// Single-precision matrix products for the image models (convolutions through im2col, linear
/// layers, attention). Every product is written in the "NT" form C = A · Bᵀ, where both A and B
/// keep their reduction axis contiguous: that is how PyTorch stores linear weights ([out, in]) and
/// how `ImageConv2D` lays out its patches, so no operand is ever transposed in memory.
public enum ImageGEMM {
    /// Products smaller than this many multiply-adds run on the calling thread: below it, handing
    /// work to other threads costs more than it saves.
    public static let parallelThreshold = 1 << 20

    /// Whether products go to CKilnKernels' AVX2/FMA kernel (on CPUs that have it, unless the
    /// engine's SIMD switch is off); else the portable Swift tiles below run.
    public static let useVectorKernel = kiln_simd_active() != 0

    /// C[m×n] = A[m×k] · B[n×k]ᵀ, then `+ columnBias[j]` and `+ rowBias[i]` where given; with
    /// `accumulate` the product is added to what C already holds. Rows of A, B and C are
    /// contiguous with strides `lda`, `ldb`, `ldc` (defaults: k, k, n).
    public static func multiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil,
        columnBias: UnsafePointer<Float>? = nil, rowBias: UnsafePointer<Float>? = nil,
        accumulate: Bool = false
    ) {
        let lda = lda ?? k, ldb = ldb ?? k, ldc = ldc ?? n
        guard m > 0, n > 0 else { return }
        let work = m * n * max(k, 1)
        if useVectorKernel && !accumulate && k >= 8 {
            // The AVX2/FMA kernel of CKilnKernels: B's rows play the weights, A's rows the batch.
            // B should be the smaller operand (it is re-read for every 4 rows of A).
            let panels = work < parallelThreshold ? 1 : ImageParallel.width
            let chunk = ((m + panels - 1) / panels + 3) & ~3
            let count = (m + chunk - 1) / chunk
            ImageParallel.run(count) { index in
                let rows = (index * chunk)..<min(m, (index + 1) * chunk)
                kiln_matmul_f32(Int32(KILN_TYPE_F32), b, ldb * 4, Int32(n), Int32(k),
                                a + rows.lowerBound * lda, lda, Int32(rows.count), c + rows.lowerBound * ldc, ldc)
                if columnBias != nil || rowBias != nil {
                    for i in rows {
                        let row = c + i * ldc
                        if let columnBias { for j in 0..<n { row[j] += columnBias[j] } }
                        if let rowBias { for j in 0..<n { row[j] += rowBias[i] } }
                    }
                }
            }
            return
        }
        // Split the larger of the two output axes into panels of whole 4-blocks.
        let panels = work < parallelThreshold ? 1 : ImageParallel.width
        if panels == 1 {
            tile(a, b, c, rows: 0..<m, columns: 0..<n, k: k, lda: lda, ldb: ldb, ldc: ldc,
                 columnBias: columnBias, rowBias: rowBias, accumulate: accumulate)
            return
        }
        let splitRows = m >= n
        let extent = splitRows ? m : n
        let chunk = ((extent + panels - 1) / panels + 3) & ~3
        let count = (extent + chunk - 1) / chunk
        ImageParallel.run(count) { index in
            let range = (index * chunk)..<min(extent, (index + 1) * chunk)
            tile(a, b, c, rows: splitRows ? range : 0..<m, columns: splitRows ? 0..<n : range,
                 k: k, lda: lda, ldb: ldb, ldc: ldc,
                 columnBias: columnBias, rowBias: rowBias, accumulate: accumulate)
        }
    }

    /// The plain triple loop, in Double, that the optimized product is tested against.
    public static func referenceMultiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[j * k + p]) }
                c[i * n + j] = Float(sum)
            }
        }
    }

    // 4×4 blocks of dot products over SIMD8 lanes, then the ragged edges one dot product at a time.
    @inline(__always)
    private static func tile(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        rows: Range<Int>, columns: Range<Int>, k: Int, lda: Int, ldb: Int, ldc: Int,
        columnBias: UnsafePointer<Float>?, rowBias: UnsafePointer<Float>?, accumulate: Bool
    ) {
        let vectorK = k & ~7
        var i = rows.lowerBound
        while i < rows.upperBound {
            let blockRows = min(4, rows.upperBound - i)
            var j = columns.lowerBound
            while j < columns.upperBound {
                let blockColumns = min(4, columns.upperBound - j)
                if blockRows == 4 && blockColumns == 4 {
                    let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
                    let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
                    var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s02 = SIMD8<Float>(), s03 = SIMD8<Float>()
                    var s10 = SIMD8<Float>(), s11 = SIMD8<Float>(), s12 = SIMD8<Float>(), s13 = SIMD8<Float>()
                    var s20 = SIMD8<Float>(), s21 = SIMD8<Float>(), s22 = SIMD8<Float>(), s23 = SIMD8<Float>()
                    var s30 = SIMD8<Float>(), s31 = SIMD8<Float>(), s32 = SIMD8<Float>(), s33 = SIMD8<Float>()
                    var p = 0
                    while p < vectorK {
                        let x0 = load8(b0 + p), x1 = load8(b1 + p), x2 = load8(b2 + p), x3 = load8(b3 + p)
                        var y = load8(a0 + p)
                        s00 += y * x0; s01 += y * x1; s02 += y * x2; s03 += y * x3
                        y = load8(a1 + p)
                        s10 += y * x0; s11 += y * x1; s12 += y * x2; s13 += y * x3
                        y = load8(a2 + p)
                        s20 += y * x0; s21 += y * x1; s22 += y * x2; s23 += y * x3
                        y = load8(a3 + p)
                        s30 += y * x0; s31 += y * x1; s32 += y * x2; s33 += y * x3
                        p += 8
                    }
                    // The tail of k (k mod 8) is finished per element.
                    @inline(__always) func finish(_ sum: SIMD8<Float>, _ r: Int, _ q: Int) {
                        var total = sum.sum()
                        let ar = a + (i + r) * lda, bq = b + (j + q) * ldb
                        var t = vectorK
                        while t < k { total += ar[t] * bq[t]; t += 1 }
                        store(total, c, i + r, j + q, ldc, columnBias, rowBias, accumulate)
                    }
                    finish(s00, 0, 0); finish(s01, 0, 1); finish(s02, 0, 2); finish(s03, 0, 3)
                    finish(s10, 1, 0); finish(s11, 1, 1); finish(s12, 1, 2); finish(s13, 1, 3)
                    finish(s20, 2, 0); finish(s21, 2, 1); finish(s22, 2, 2); finish(s23, 2, 3)
                    finish(s30, 3, 0); finish(s31, 3, 1); finish(s32, 3, 2); finish(s33, 3, 3)
                } else {
                    for r in 0..<blockRows {
                        for q in 0..<blockColumns {
                            let total = dot(a + (i + r) * lda, b + (j + q) * ldb, k)
                            store(total, c, i + r, j + q, ldc, columnBias, rowBias, accumulate)
                        }
                    }
                }
                j += 4
            }
            i += 4
        }
    }

    @inline(__always)
    private static func store(
        _ value: Float, _ c: UnsafeMutablePointer<Float>, _ i: Int, _ j: Int, _ ldc: Int,
        _ columnBias: UnsafePointer<Float>?, _ rowBias: UnsafePointer<Float>?, _ accumulate: Bool
    ) {
        var total = value
        if let columnBias { total += columnBias[j] }
        if let rowBias { total += rowBias[i] }
        if accumulate { c[i * ldc + j] += total } else { c[i * ldc + j] = total }
    }

    /// Dot product of two contiguous rows.
    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>()
        var p = 0
        while p + 8 <= count { acc += load8(x + p) * load8(y + p); p += 8 }
        var total = acc.sum()
        while p < count { total += x[p] * y[p]; p += 1 }
        return total
    }

    @inline(__always)
    static func load8(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }
}
