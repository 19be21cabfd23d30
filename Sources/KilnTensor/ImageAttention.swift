import CKilnKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scaled dot-product attention for image and text transformers, one sequence at a time.
///
/// Queries, keys and values are token-major as linear layers write them: q [queryCount, heads·headDim],
/// k and v [keyCount, heads·headDim]; head h is the column slice h·headDim ..< (h+1)·headDim.
public enum ImageAttention {
    /// Query rows handled together: each load of a key or value vector serves this many rows.
    static let rowBlock = 4

    /// Floats of scratch `attend` needs: keys and values transposed per head, and a block of score
    /// rows for each worker thread.
    public static func scratchCount(queryCount: Int, keyCount: Int, heads: Int, headDim: Int) -> Int {
        2 * heads * headDim * keyCount + ImageParallel.width * rowBlock * keyCount
    }

    /// output [queryCount, heads·headDim] = softmax(q kᵀ · scale + mask) v, head by head.
    /// With `causal`, query i sees keys 0...i only (CLIP's text encoder).
    ///
    /// Keys and values are first transposed to [head, dim, key], so that both products run along
    /// the key axis in SIMD whatever the head width (4 in the tiny test UNet, 40–160 in SD); no
    /// [queries × keys] matrix is ever formed, which keeps a 4096-token VAE attention in cache.
    public static func attend(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool = false, scratch: UnsafeMutablePointer<Float>
    ) {
        let width = heads * headDim
        let keysT = scratch, valuesT = scratch + width * keyCount
        let rowScratch = scratch + 2 * width * keyCount
        for token in 0..<keyCount {
            for column in 0..<width {
                keysT[column * keyCount + token] = key[token * width + column]
                valuesT[column * keyCount + token] = value[token * width + column]
            }
        }
        let blocks = (queryCount + rowBlock - 1) / rowBlock
        let tasks = heads * blocks
        let workers = min(ImageParallel.width, tasks)
        let perWorker = (tasks + workers - 1) / workers
        ImageParallel.run(workers) { worker in
            let scores = rowScratch + worker * rowBlock * keyCount
            for task in (worker * perWorker)..<min(tasks, (worker + 1) * perWorker) {
                let head = task / blocks, firstRow = (task % blocks) * rowBlock
                let rows = min(rowBlock, queryCount - firstRow)
                attendBlock(query: query, keys: key, keysT: keysT + head * headDim * keyCount, valuesT: valuesT + head * headDim * keyCount,
                            output: output, firstRow: firstRow, rows: rows, headOffset: head * headDim, width: width,
                            keyCount: keyCount, headDim: headDim, scale: scale, causal: causal, scores: scores)
            }
        }
    }

    @inline(__always)
    private static func attendBlock(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, keysT: UnsafePointer<Float>, valuesT: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, firstRow: Int, rows: Int, headOffset: Int, width: Int,
        keyCount: Int, headDim: Int, scale: Float, causal: Bool, scores: UnsafeMutablePointer<Float>
    ) {
        // Keys visible to the block's last row; earlier rows mask the rest after the product.
        let visible = causal ? min(keyCount, firstRow + rows) : keyCount
        let vectorEnd = visible & ~7
        let vector = ImageGEMM.useVectorKernel
        if vector && headDim >= 16 {
            // Wide heads: the AVX2 product straight from the token-major keys.
            kiln_matmul_f32(Int32(KILN_TYPE_F32), keys + headOffset, width * 4, Int32(visible), Int32(headDim),
                            query + firstRow * width + headOffset, width, Int32(rows), scores, keyCount)
            for r in 0..<rows {
                let row = scores + r * keyCount
                for j in 0..<visible { row[j] *= scale }
            }
        } else {
            // scores[r, j] = Σ_d q[r, d] · kᵀ[d, j], eight keys at a time, accumulated in registers.
            for r in 0..<rows {
                let row = scores + r * keyCount
                let q = query + (firstRow + r) * width + headOffset
                var j = 0
                while j < vectorEnd {
                    var acc = SIMD8<Float>()
                    for d in 0..<headDim { acc += SIMD8<Float>(repeating: q[d]) * load8(keysT + d * keyCount + j) }
                    store8(row + j, acc * scale)
                    j += 8
                }
                while j < visible {
                    var acc: Float = 0
                    for d in 0..<headDim { acc += q[d] * keysT[d * keyCount + j] }
                    row[j] = acc * scale
                    j += 1
                }
            }
        }
        for r in 0..<rows {
            let rowVisible = causal ? firstRow + r + 1 : keyCount
            if vector {
                let row = scores + r * keyCount
                kiln_softmax(row, rowVisible)
                for j in rowVisible..<visible { row[j] = 0 }
            } else {
                softmax(scores + r * keyCount, visible: rowVisible, extent: visible)
            }
        }
        // output[r, d] = Σ_j p[r, j] · vᵀ[d, j].
        if vector {
            kiln_matmul_f32(Int32(KILN_TYPE_F32), valuesT, keyCount * 4, Int32(headDim), Int32(visible),
                            scores, keyCount, Int32(rows), output + firstRow * width + headOffset, width)
            return
        }
        for d in 0..<headDim {
            let valueRow = valuesT + d * keyCount
            for r in 0..<rows {
                output[(firstRow + r) * width + headOffset + d] = ImageGEMM.dot(scores + r * keyCount, valueRow, visible)
            }
        }
    }

    /// Softmax of `row[0..<visible]` in place; entries visible..<extent become 0.
    @inline(__always)
    static func softmax(_ row: UnsafeMutablePointer<Float>, visible: Int, extent: Int) {
        var maximum = -Float.infinity
        for index in 0..<visible { maximum = max(maximum, row[index]) }
        let shift = SIMD8<Float>(repeating: maximum)
        var sums = SIMD8<Float>()
        var index = 0
        while index + 8 <= visible {
            let e = ImageMath.exp(load8(row + index) - shift)
            store8(row + index, e)
            sums += e
            index += 8
        }
        var sum = sums.sum()
        while index < visible {
            let e = expf(row[index] - maximum)
            row[index] = e
            sum += e
            index += 1
        }
        let inverse = 1 / sum
        for index in 0..<visible { row[index] *= inverse }
        for index in visible..<extent { row[index] = 0 }
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) static func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// The plain loops, in Double, that `attend` is tested against.
    public static func referenceAttend(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool = false
    ) {
        let width = heads * headDim
        var weights = [Double](repeating: 0, count: keyCount)
        for head in 0..<heads {
            for i in 0..<queryCount {
                let visible = causal ? i + 1 : keyCount
                var maximum = -Double.infinity
                for j in 0..<visible {
                    var s = 0.0
                    for d in 0..<headDim {
                        s += Double(query[i * width + head * headDim + d]) * Double(key[j * width + head * headDim + d])
                    }
                    weights[j] = s * Double(scale)
                    maximum = max(maximum, weights[j])
                }
                var sum = 0.0
                for j in 0..<visible { weights[j] = doubleExp(weights[j] - maximum); sum += weights[j] }
                for d in 0..<headDim {
                    var o = 0.0
                    for j in 0..<visible { o += weights[j] / sum * Double(value[j * width + head * headDim + d]) }
                    output[i * width + head * headDim + d] = Float(o)
                }
            }
        }
    }

    @inline(__always) private static func doubleExp(_ x: Double) -> Double { exp(x) }
}
