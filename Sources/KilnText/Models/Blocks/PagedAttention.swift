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
    ///   - queries: `[tokenCount × headCount·headDimension]`, RoPE applied.
    ///   - output: `[tokenCount × headCount·headDimension]`, written.
    static func attend(
        layer: Int, batch: ForwardBatch, cache: PagedKVCache, headCount: Int,
        queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: WorkerPool
    ) {
        let dimension = cache.headDimension
        let group = headCount / cache.kvHeadCount
        let rowWidth = headCount * dimension
        let scale = 1 / Float(dimension).squareRoot()
        var work = 0
        for token in 0..<batch.tokenCount { work += Int(batch.tokenPositions[token]) + 1 }
        work *= headCount
        let items = batch.tokenCount * headCount
        let body = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Attention.stateSize(headDimension: dimension)) { state in
                for item in range {
                    let token = item / headCount, head = item % headCount
                    let sequence = Int(batch.tokenSequences[token])
                    attendHead(
                        query: queries + token * rowWidth + head * dimension,
                        output: output + token * rowWidth + head * dimension,
                        blockTable: batch.blockTables + sequence * batch.maximumBlocksPerSequence,
                        length: Int(batch.tokenPositions[token]) + 1, layer: layer, kvHead: head / group,
                        cache: cache, scale: scale, state: state.baseAddress!)
                }
            }
        }
        if work < parallelThreshold || items < 2 {
            body(0..<items)
        } else {
            pool.parallelFor(items, grain: max(1, items / (pool.threadCount * 8)), body)
        }
    }

    /// One query head over positions `0 ..< length` of one sequence, one span per block.
    @inline(__always)
    static func attendHead(
        query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        blockTable: UnsafePointer<Int32>, length: Int, layer: Int, kvHead: Int,
        cache: PagedKVCache, scale: Float, state: UnsafeMutablePointer<Float>
    ) {
        let dimension = cache.headDimension
        let blockSize = cache.blockSize
        Attention.begin(state: state, headDimension: dimension)
        var start = 0
        var blockIndex = 0
        while start < length {
            let block = Int(blockTable[blockIndex])
            Attention.accumulate(
                query: query, keys: cache.keys(layer: layer, block: block, kvHead: kvHead),
                values: cache.values(layer: layer, block: block, kvHead: kvHead),
                elementType: cache.elementType, positionStride: dimension,
                count: min(blockSize, length - start), headDimension: dimension, scale: scale,
                state: state)
            start += blockSize
            blockIndex += 1
        }
        Attention.finish(state: state, headDimension: dimension, output: output)
    }
}
