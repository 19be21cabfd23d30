import KilnTensor

/// Causal grouped-query attention of a batch's queries over a `PagedKVCache`, built from
/// KilnTensor's span kernel (`Attention.begin/accumulate/finish`): for query head h of a token at
/// position p, with g = h / (heads / kvHeads), `out = Σ_{t ≤ p} softmax_t(scale · q·k[t][g]) · v[t][g]`,
/// folded block by block in position order with an online softmax.
///
/// Every (token, head) is computed alone, its positions split into spans at the same block
/// boundaries whatever else is in the batch, so results are bit-identical alone or batched and
/// however a prompt was split into chunks.
enum PagedAttention {
    /// Below this many position-heads in a step the work stays on the calling thread.
    static let parallelThreshold = 16_384

    /// Attends every token of `batch` for one layer.
    ///
    /// - Parameters:
    ///   - scale: the multiplier of `q·k`.
    ///   - window: when positive, a token at p sees positions `p − window + 1 … p` only.
    ///   - queries: `[tokenCount × headCount·headDimension]`, RoPE applied.
    ///   - output: `[tokenCount × headCount·headDimension]`, written.
    static func attend(
        layer: Int, batch: ForwardBatch, cache: PagedKVCache, headCount: Int,
        queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: Float, window: Int = 0,
        pool: WorkerPool
    ) {
        let dimension = cache.headDimension
        let group = headCount / cache.kvHeadCount
        let rowWidth = headCount * dimension
        var work = 0
        for token in 0..<batch.tokenCount {
            let length = Int(batch.tokenPositions[token]) + 1
            work += window > 0 ? min(length, window) : length
        }
        work *= headCount
        let items = batch.tokenCount * headCount
        let body = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Attention.stateSize(headDimension: dimension)) { state in
                for item in range {
                    let token = item / headCount, head = item % headCount
                    let sequence = Int(batch.tokenSequences[token])
                    let length = Int(batch.tokenPositions[token]) + 1
                    attendHead(
                        query: queries + token * rowWidth + head * dimension,
                        output: output + token * rowWidth + head * dimension,
                        blockTable: batch.blockTables + sequence * batch.maximumBlocksPerSequence,
                        from: window > 0 ? max(0, length - window) : 0, to: length, layer: layer,
                        kvHead: head / group, cache: cache, scale: scale, state: state.baseAddress!)
                }
            }
        }
        if work < parallelThreshold || items < 2 {
            body(0..<items)
        } else {
            pool.parallelFor(items, grain: max(1, items / (pool.threadCount * 8)), body)
        }
    }

    /// One query head over positions `first ..< length` of one sequence, one span per block
    /// (piece).
    @inline(__always)
    static func attendHead(
        query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        blockTable: UnsafePointer<Int32>, from first: Int, to length: Int, layer: Int, kvHead: Int,
        cache: PagedKVCache, scale: Float, state: UnsafeMutablePointer<Float>
    ) {
        let dimension = cache.headDimension
        let blockSize = cache.blockSize
        let elementBytes = cache.elementType.byteCount
        Attention.begin(state: state, headDimension: dimension)
        var start = first
        while start < length {
            let block = Int(blockTable[start / blockSize])
            let offset = (start % blockSize) * dimension * elementBytes
            let count = min(blockSize - start % blockSize, length - start)
            Attention.accumulate(
                query: query, keys: cache.keys(layer: layer, block: block, kvHead: kvHead) + offset,
                values: cache.values(layer: layer, block: block, kvHead: kvHead) + offset,
                elementType: cache.elementType, positionStride: dimension,
                count: count, headDimension: dimension, scale: scale, state: state)
            start += count
        }
        Attention.finish(state: state, headDimension: dimension, output: output)
    }
}
