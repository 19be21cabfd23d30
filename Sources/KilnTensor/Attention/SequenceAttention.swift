import CKilnKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Scaled dot-product attention of a whole sequence of queries over a whole set of keys, without a
/// KV cache (the transformers of the image models and their text encoders), split between the
/// threads of the `KernelContext` given. (`Attention` attends over a language model's KV cache.)
///
/// Queries, keys and values are token-major as linear layers write them: q [queryCount, heads·headDim],
/// k and v [keyCount, heads·headDim]; head h is the column slice h·headDim ..< (h+1)·headDim.
public enum SequenceAttention {
    /// Query rows handled together: a block's scores [rowBlock, keyCount] stay in L2 (48 × 4096
    /// floats for the 64×64-latent self-attention), and each packing of a head's keys serves them all.
    static let rowBlock = 48

    /// Heads up to this wide take CKilnKernels' fused small-head kernel (keys in SIMD lanes) instead
    /// of two products: a product over 4 dimensions cannot pay for packing its operands.
    static let smallHeadLimit = 8

    /// Floats of scratch `attend` needs on `context`: for small heads the transposed keys and
    /// values and two score rows per worker thread; else a block of score rows per worker thread.
    public static func scratchCount(queryCount: Int, keyCount: Int, heads: Int, headDim: Int, context: KernelContext) -> Int {
        if headDim <= smallHeadLimit {
            let padded = (keyCount + 7) & ~7
            return 2 * heads * headDim * padded + context.width * 2 * padded
        }
        return heads * packedCount(keyCount: keyCount, headDim: headDim) + context.width * rowBlock * keyCount
    }

    /// Floats of one head's packed keys and values.
    static func packedCount(keyCount: Int, headDim: Int) -> Int {
        kiln_gemm_packed_b_count(Int32(keyCount), Int32(headDim)) + kiln_gemm_packed_b_count(Int32(headDim), Int32(keyCount))
    }

    /// output [queryCount, heads·headDim] = softmax(q kᵀ · scale + mask) v, head by head.
    /// With `causal`, query i sees keys 0...i only (CLIP's text encoder).
    ///
    /// Per head and block of query rows: the scores are one product (q rows × the head's keys, read
    /// in place as kᵀ), each row is exponentiated without normalizing, the product with the values
    /// is written straight into the output, and each output row is divided by its row's sum. No
    /// [queries × keys] matrix is ever formed.
    public static func attend(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool = false, scratch: UnsafeMutablePointer<Float>, context: KernelContext
    ) {
        let width = heads * headDim
        if headDim <= smallHeadLimit {
            attendSmallHeads(
                query: query, key: key, value: value, output: output, queryCount: queryCount, keyCount: keyCount,
                heads: heads, headDim: headDim, scale: scale, causal: causal, scratch: scratch, context: context)
            return
        }
        // Each head's keys (as kᵀ, [headDim × keys]) and values ([keys × headDim]) packed once for
        // the products of all its row blocks.
        let perHead = packedCount(keyCount: keyCount, headDim: headDim)
        let keysPacked = kiln_gemm_packed_b_count(Int32(keyCount), Int32(headDim))
        let rowScratch = scratch + heads * perHead
        context.run(heads) { head in
            let packed = scratch + head * perHead
            kiln_gemm_pack_b(Int32(keyCount), Int32(headDim), Int32(KILN_TYPE_F32), key + head * headDim, 1, width, packed)
            kiln_gemm_pack_b(Int32(headDim), Int32(keyCount), Int32(KILN_TYPE_F32), value + head * headDim, width, 1, packed + keysPacked)
        }
        let blocks = (queryCount + rowBlock - 1) / rowBlock
        context.runInSlots(heads * blocks, slots: context.width) { slot, task in
            let head = task / blocks, firstRow = (task % blocks) * rowBlock
            let rows = min(rowBlock, queryCount - firstRow)
            let scores = rowScratch + slot * rowBlock * keyCount
            let headOffset = head * headDim
            let packed = scratch + head * perHead
            // scores[r, j] = q[firstRow + r] · k[j] for all keys; a causal row's later keys get
            // weight 0 below (the packed operands are used at the sizes they were packed for).
            let queries = query + firstRow * width + headOffset
            kiln_gemm_prepacked(
                Int32(rows), Int32(keyCount), Int32(headDim), Int32(KILN_TYPE_F32), queries, width, 1,
                packed, scores, keyCount, 0)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: rowBlock) { sums in
                for r in 0..<rows {
                    let row = scores + r * keyCount
                    let rowVisible = causal ? min(keyCount, firstRow + r + 1) : keyCount
                    sums[r] = kiln_softmax_unnormalized(row, rowVisible, scale)
                    if rowVisible < keyCount { (row + rowVisible).update(repeating: 0, count: keyCount - rowVisible) }
                }
                let target = output + firstRow * width + headOffset
                kiln_gemm_prepacked(
                    Int32(rows), Int32(headDim), Int32(keyCount), Int32(KILN_TYPE_F32), scores, keyCount, 1,
                    packed + keysPacked, target, width, 0)
                for r in 0..<rows {
                    let inverse = 1 / sums[r]
                    let line = target + r * width
                    for d in 0..<headDim { line[d] *= inverse }
                }
            }
        }
    }

    /// Small heads: keys and values transposed once per call to [head, dim, key] (rows padded with
    /// zeros to a multiple of 8 keys), then blocks of query rows through the fused kernel.
    private static func attendSmallHeads(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool, scratch: UnsafeMutablePointer<Float>, context: KernelContext
    ) {
        let width = heads * headDim
        let padded = (keyCount + 7) & ~7
        let keysT = scratch, valuesT = scratch + width * padded
        let rowScratch = scratch + 2 * width * padded
        for column in 0..<width {
            let keyRow = keysT + column * padded, valueRow = valuesT + column * padded
            for token in 0..<keyCount {
                keyRow[token] = key[token * width + column]
                valueRow[token] = value[token * width + column]
            }
            for token in keyCount..<padded {
                keyRow[token] = 0
                valueRow[token] = 0
            }
        }
        let block = 32
        let blocks = (queryCount + block - 1) / block
        context.runInSlots(heads * blocks, slots: context.width) { slot, task in
            let head = task / blocks, firstRow = (task % blocks) * block
            let rows = min(block, queryCount - firstRow)
            kiln_attention_small_head(
                query + firstRow * width + head * headDim, width, Int32(rows),
                keysT + head * headDim * padded, valuesT + head * headDim * padded,
                padded, Int32(keyCount), Int32(headDim), scale, causal ? Int32(firstRow + 1) : -1,
                rowScratch + slot * 2 * padded, output + firstRow * width + head * headDim, width)
        }
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
                for j in 0..<visible {
                    weights[j] = doubleExp(weights[j] - maximum)
                    sum += weights[j]
                }
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
