import KilnTensor

/// Causal grouped-query attention over a half `PagedKVCache` with llama.cpp's CPU flash-attention
/// arithmetic, which the default (8-bit activation) path uses so that its results reproduce
/// llama.cpp's. llama.cpp picks one of three bodies per step, and each rounds differently:
///
/// - a sequence with 64 or more tokens in the step (a prompt chunk): the tiled body
///   (`Attention.attendTiled`: key tiles of 64, float accumulator);
/// - one token whose llama.cpp cache view is 512 positions or more: the key range split into
///   `splitCount` equal parts (llama.cpp splits by its thread count), each folded with the half
///   accumulator (`Attention.accumulateInHalves`), the parts merged (`Attention.merge`);
/// - otherwise the half accumulator over all keys, in position order.
///
/// llama.cpp's cache view is the used cells rounded up to a multiple of 256 (at least 256). It
/// chooses by the whole batch's token count, Kiln by the sequence's own, so a sequence's result
/// never depends on other sequences; the two agree for one sequence at a time (how the reference
/// was made). As with `PagedAttention`, results do not depend on what else is in the batch.
/// With `AttentionSelection.positionOnly` the choice depends on the token's position alone (no
/// tiled body; the split one for every token past 256), so that chunking changes nothing either.
enum LlamaCompatibleAttention {
    /// Largest head dimension of the half-accumulator kernel; larger heads use `PagedAttention`.
    static let maximumHeadDimension = 256
    /// Tokens of one sequence in a step from which llama.cpp's tiled body applies.
    static let tiledMinimumTokens = 64
    /// Query rows per tiled work item (llama.cpp's tile height).
    static let tileRows = 64
    /// llama.cpp splits one token's key range when its cache view has at least this many positions.
    static let splitMinimumView = 512

    /// llama.cpp's cache view for a single sequence whose last used position is `position`.
    static func llamaCacheView(position: Int) -> Int {
        max(256, (position + 1 + 255) / 256 * 256)
    }

    /// Attends every token of `batch` for one layer (shapes, `scale` and `window` as
    /// `PagedAttention.attend`). A sliding-window layer's prompt chunk takes the tiled body with the
    /// window's mask, as llama.cpp's does.
    static func attend(
        layer: Int, batch: ForwardBatch, cache: PagedKVCache, headCount: Int,
        queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: Float, window: Int = 0,
        pool: WorkerPool, splitCount: Int, selection: AttentionSelection = .llamaCompatible
    ) {
        let dimension = cache.headDimension
        let group = headCount / cache.kvHeadCount
        let rowWidth = headCount * dimension
        let tiledSupported = selection == .llamaCompatible && Attention.supportsTiled(headDimension: dimension)
        let splitsByPosition = selection == .positionOnly
        func isTiled(_ sequence: Int) -> Bool {
            let tokens = batch.tokenRange(ofSequence: sequence)
            return tiledSupported && tokens.count >= tiledMinimumTokens
        }

        // Tokens of sequences below the tiled threshold: one item per (token, head).
        var work = 0
        var tiledItems = 0
        for sequence in 0..<batch.sequenceCount {
            let tokens = batch.tokenRange(ofSequence: sequence)
            if isTiled(sequence) {
                tiledItems += (tokens.count + tileRows - 1) / tileRows * headCount
            } else {
                for token in tokens {
                    let length = Int(batch.tokenPositions[token]) + 1
                    work += window > 0 ? min(length, window) : length
                }
            }
        }
        work *= headCount
        let items = batch.tokenCount * headCount
        let stateSize = Attention.stateSize(headDimension: dimension)
        let single = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * stateSize) { states in
                for item in range {
                    let token = item / headCount, head = item % headCount
                    let sequence = Int(batch.tokenSequences[token])
                    if isTiled(sequence) { continue }
                    let splits = splitsByPosition || batch.tokenRange(ofSequence: sequence).count == 1
                    attendHead(
                        query: queries + token * rowWidth + head * dimension,
                        output: output + token * rowWidth + head * dimension,
                        blockTable: batch.blockTables + sequence * batch.maximumBlocksPerSequence,
                        position: Int(batch.tokenPositions[token]), window: window, layer: layer,
                        kvHead: head / group, cache: cache, scale: scale, splitCount: splits ? splitCount : 1,
                        states: states.baseAddress!)
                }
            }
        }
        if work < PagedAttention.parallelThreshold || items < 2 {
            single(0..<items)
        } else {
            pool.parallelFor(items, grain: max(1, items / (pool.threadCount * 8)), single)
        }
        guard tiledItems > 0 else { return }

        // Sequences at or above it: one item per (sequence, head, tile of up to 64 of its tokens).
        let blockCapacity = batch.maximumBlocksPerSequence
        pool.parallelFor(tiledItems, grain: 1) { range in
            withUnsafeTemporaryAllocation(of: UnsafePointer<UInt16>?.self, capacity: 2 * blockCapacity) { pointers in
                let keyBlocks = pointers.baseAddress!, valueBlocks = keyBlocks + blockCapacity
                var mappedSequence = -1, mappedKVHead = -1
                for item in range {
                    // Find the item's sequence (few sequences per step: a linear walk).
                    var rest = item, sequence = 0, tiles = 0
                    while sequence < batch.sequenceCount {
                        if isTiled(sequence) {
                            tiles = (batch.tokenRange(ofSequence: sequence).count + tileRows - 1) / tileRows
                            if rest < tiles * headCount { break }
                            rest -= tiles * headCount
                        }
                        sequence += 1
                    }
                    let head = rest / tiles, tile = rest % tiles
                    let kvHead = head / group
                    let tokens = batch.tokenRange(ofSequence: sequence)
                    let first = tokens.lowerBound + tile * tileRows
                    let rows = min(tileRows, tokens.upperBound - first)
                    let firstPosition = Int(batch.tokenPositions[first])
                    if sequence != mappedSequence || kvHead != mappedKVHead {
                        let table = batch.blockTables + sequence * blockCapacity
                        let blocks = Int(batch.sequenceBlockCounts[sequence])
                        for index in 0..<blocks {
                            let block = Int(table[index])
                            keyBlocks[index] = UnsafePointer(
                                cache.keys(layer: layer, block: block, kvHead: kvHead)
                                    .assumingMemoryBound(to: UInt16.self))
                            valueBlocks[index] = UnsafePointer(
                                cache.values(layer: layer, block: block, kvHead: kvHead)
                                    .assumingMemoryBound(to: UInt16.self))
                        }
                        mappedSequence = sequence
                        mappedKVHead = kvHead
                    }
                    Attention.attendTiled(
                        queries: queries + first * rowWidth + head * dimension, queryStride: rowWidth,
                        rows: rows, firstPosition: firstPosition, keyBlocks: keyBlocks,
                        valueBlocks: valueBlocks, blockSize: cache.blockSize,
                        positionStride: dimension, headDimension: dimension, scale: scale,
                        output: output + first * rowWidth + head * dimension, outputStride: rowWidth,
                        window: window)
                }
            }
        }
    }

    /// One query head at `position` over positions `0 ... position` (the last `window` of them
    /// when `window` is positive), in `splitCount` parts when llama.cpp would split it; a part
    /// the window leaves empty is skipped, as llama.cpp skips masked keys. `states` holds two
    /// states.
    @inline(__always)
    static func attendHead(
        query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        blockTable: UnsafePointer<Int32>, position: Int, window: Int = 0, layer: Int, kvHead: Int,
        cache: PagedKVCache, scale: Float, splitCount: Int, states: UnsafeMutablePointer<Float>
    ) {
        let dimension = cache.headDimension
        let length = position + 1
        let first = window > 0 ? max(0, length - window) : 0
        let view = llamaCacheView(position: position)
        let parts = splitCount > 1 && view >= splitMinimumView ? splitCount : 1
        let partLength = (view + parts - 1) / parts
        let total = states, part = states + Attention.stateSize(headDimension: dimension)
        Attention.begin(state: total, headDimension: dimension)
        var start = 0
        while start < length {
            let end = parts == 1 ? length : min(length, start + partLength)
            defer { start = end }
            if end <= first { continue }
            let state = parts == 1 ? total : part
            if parts > 1 { Attention.begin(state: state, headDimension: dimension) }
            accumulate(
                query: query, from: max(start, first), to: end, blockTable: blockTable, layer: layer,
                kvHead: kvHead, cache: cache, scale: scale, state: state)
            if parts > 1 { Attention.merge(state, into: total, headDimension: dimension) }
        }
        Attention.finish(state: total, headDimension: dimension, output: output)
    }

    /// Folds positions `start ..< end` into `state` with the half accumulator, one span per block piece.
    @inline(__always)
    static func accumulate(
        query: UnsafePointer<Float>, from start: Int, to end: Int, blockTable: UnsafePointer<Int32>,
        layer: Int, kvHead: Int, cache: PagedKVCache, scale: Float,
        state: UnsafeMutablePointer<Float>
    ) {
        let dimension = cache.headDimension
        let blockSize = cache.blockSize
        var position = start
        while position < end {
            let block = Int(blockTable[position / blockSize])
            let offset = position % blockSize
            let count = min(blockSize - offset, end - position)
            Attention.accumulateInHalves(
                query: query,
                keys: cache.keys(layer: layer, block: block, kvHead: kvHead) + offset * dimension * 2,
                values: cache.values(layer: layer, block: block, kvHead: kvHead) + offset * dimension * 2,
                positionStride: dimension, count: count, headDimension: dimension,
                scale: scale, state: state)
            position += count
        }
    }
}
