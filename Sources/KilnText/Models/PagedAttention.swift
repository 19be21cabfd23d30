import KilnTensor

/// Causal grouped-query attention of a batch's queries over a `PagedKVCache`.
///
/// KilnTensor's `Attention` reads a sequence's cache through one position stride, which cannot
/// follow a block table; this is the paged variant (a candidate to move into KilnTensor with a
/// SIMD kernel). For query head h of a token at position p, with g = h / (heads / kvHeads):
/// `out = Σ_{t ≤ p} softmax_t(scale · q·k[t][g]) · v[t][g]`, computed block by block with an
/// online softmax (running maximum and sum). Each (token, head) is computed alone, in position
/// order, with the same arithmetic whatever else is in the batch, so results are independent of
/// batch composition and of how a prompt was split into chunks.
enum PagedAttention {
    /// Attends every token of `batch` for one layer.
    ///
    /// - Parameters:
    ///   - queries: `[tokenCount × headCount·headDimension]`, RoPE applied.
    ///   - output: `[tokenCount × headCount·headDimension]`, written.
    static func attend(layer: Int, batch: ForwardBatch, cache: PagedKVCache, headCount: Int,
                       queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let headDimension = cache.headDimension
        let group = headCount / cache.kvHeadCount
        let scale = 1 / Float(headDimension).squareRoot()
        let rowWidth = headCount * headDimension
        let items = batch.tokenCount * headCount
        let grain = max(1, items / (pool.threadCount * 4))
        pool.parallelFor(items, grain: grain) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: cache.blockSize) { scores in
                for item in range {
                    let token = item / headCount, head = item % headCount
                    let sequence = Int(batch.tokenSequences[token])
                    attendHead(query: queries + token * rowWidth + head * headDimension,
                               output: output + token * rowWidth + head * headDimension,
                               blockTable: batch.blockTables + sequence * batch.maximumBlocksPerSequence,
                               length: Int(batch.tokenPositions[token]) + 1,
                               layer: layer, kvHead: head / group, cache: cache, scale: scale,
                               scores: scores.baseAddress!)
                }
            }
        }
    }

    /// One query head over positions `0 ..< length` of one sequence.
    ///
    /// - Parameters:
    ///   - query, output: `[headDimension]`.
    ///   - scores: scratch of `[cache.blockSize]` floats.
    @inline(__always)
    static func attendHead(query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                           blockTable: UnsafePointer<Int32>, length: Int, layer: Int, kvHead: Int,
                           cache: PagedKVCache, scale: Float, scores: UnsafeMutablePointer<Float>) {
        let dimension = cache.headDimension
        let blockSize = cache.blockSize
        output.initialize(repeating: 0, count: dimension)
        var runningMaximum = -Float.infinity
        var runningSum: Float = 0
        var start = 0
        var blockIndex = 0
        while start < length {
            let count = min(blockSize, length - start)
            let block = Int(blockTable[blockIndex])
            let keys = cache.keys(layer: layer, block: block, kvHead: kvHead)
            let values = cache.values(layer: layer, block: block, kvHead: kvHead)
            var blockMaximum = -Float.infinity
            for slot in 0..<count {
                let score = dot(query, keys + slot * dimension, count: dimension) * scale
                scores[slot] = score
                blockMaximum = max(blockMaximum, score)
            }
            let newMaximum = max(runningMaximum, blockMaximum)
            let correction = portableUnitExponential(runningMaximum - newMaximum)
            runningSum *= correction
            if correction != 1 { multiply(output, count: dimension, by: correction) }
            for slot in 0..<count {
                let weight = portableUnitExponential(scores[slot] - newMaximum)
                runningSum += weight
                accumulate(output, values + slot * dimension, weight: weight, count: dimension)
            }
            runningMaximum = newMaximum
            start += count
            blockIndex += 1
        }
        multiply(output, count: dimension, by: 1 / runningSum)
    }

    /// Σ a[i]·b[i] in eight interleaved lanes, summed in a fixed order.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            let x = UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self)
            lanes += x * y
            index += 8
        }
        var total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        while index < count {
            total += a[index] * b[index]
            index += 1
        }
        return total
    }

    /// accumulator[i] += weight · values[i].
    @inline(__always)
    static func accumulate(_ accumulator: UnsafeMutablePointer<Float>, _ values: UnsafePointer<Float>,
                           weight: Float, count: Int) {
        let broadcast = SIMD8<Float>(repeating: weight)
        var index = 0
        while index + 8 <= count {
            let raw = UnsafeMutableRawPointer(accumulator + index)
            let sum = raw.loadUnaligned(as: SIMD8<Float>.self)
                + broadcast * UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self)
            raw.storeBytes(of: sum, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            accumulator[index] += weight * values[index]
            index += 1
        }
    }

    @inline(__always)
    static func multiply(_ vector: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for index in 0..<count { vector[index] *= factor }
    }
}
