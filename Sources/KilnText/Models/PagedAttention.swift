import KilnTensor

/// Causal grouped-query attention of a batch's queries over a `PagedKVCache`.
///
/// KilnTensor's `Attention` reads a sequence's cache through one position stride, which cannot
/// follow a block table; this is the paged variant (a candidate to move into KilnTensor with an
/// AVX2 body). For query head h of a token at position p, with g = h / (heads / kvHeads):
/// `out = Σ_{t ≤ p} softmax_t(scale · q·k[t][g]) · v[t][g]`.
///
/// One work item is a token and a KV head: the query heads that share that KV head are done
/// together, so each key and value is loaded once for all of them. Keys are stored transposed,
/// so the scores of a block's slots come from vertical SIMD arithmetic (a broadcast query element
/// times a row of 16 slots), and the softmax runs online, block by block. Every (token, head) is
/// computed alone, in position order, with the same arithmetic whatever else is in the batch,
/// so results do not depend on batch composition or on how a prompt was split into chunks.
enum PagedAttention {
    typealias Slots = SIMD16<Float>

    /// The most query heads per KV head the grouped path handles; wider groups are split.
    static let maximumGroup = 8

    /// Attends every token of `batch` for one layer.
    ///
    /// - Parameters:
    ///   - queries: `[tokenCount × headCount·headDimension]`, RoPE applied.
    ///   - output: `[tokenCount × headCount·headDimension]`, written.
    static func attend(layer: Int, batch: ForwardBatch, cache: PagedKVCache, headCount: Int,
                       queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let dimension = cache.headDimension
        let group = headCount / cache.kvHeadCount
        let groupChunk = min(group, maximumGroup)
        let chunksPerKVHead = (group + groupChunk - 1) / groupChunk
        let itemsPerToken = cache.kvHeadCount * chunksPerKVHead
        let rowWidth = headCount * dimension
        let scale = 1 / Float(dimension).squareRoot()
        // Work in position-heads, to keep short decodes off the pool.
        var work = 0
        for token in 0..<batch.tokenCount { work += Int(batch.tokenPositions[token]) + 1 }
        work *= headCount
        let items = batch.tokenCount * itemsPerToken
        let body = { (range: Range<Int>) in
            // Per item: scores [group × 16] and probabilities, on the stack.
            withUnsafeTemporaryAllocation(of: Slots.self, capacity: 2 * groupChunk) { scratch in
                for item in range {
                    let token = item / itemsPerToken
                    let within = item % itemsPerToken
                    let kvHead = within / chunksPerKVHead
                    let firstHead = kvHead * group + (within % chunksPerKVHead) * groupChunk
                    let heads = min(groupChunk, (kvHead + 1) * group - firstHead)
                    let sequence = Int(batch.tokenSequences[token])
                    attendGroup(queries: queries + token * rowWidth + firstHead * dimension,
                                output: output + token * rowWidth + firstHead * dimension, heads: heads,
                                blockTable: batch.blockTables + sequence * batch.maximumBlocksPerSequence,
                                length: Int(batch.tokenPositions[token]) + 1, layer: layer, kvHead: kvHead,
                                cache: cache, scale: scale, scratch: scratch.baseAddress!)
                }
            }
        }
        if work < 8192 || items < 2 {
            body(0..<items)
        } else {
            pool.parallelFor(items, grain: max(1, items / (pool.threadCount * 8)), body)
        }
    }

    /// `heads` consecutive query heads sharing `kvHead`, over positions `0 ..< length`.
    ///
    /// - Parameters:
    ///   - queries, output: `[heads × headDimension]`.
    ///   - scratch: `[2 × heads]` vectors of 16 floats.
    @inline(__always)
    static func attendGroup(queries: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, heads: Int,
                            blockTable: UnsafePointer<Int32>, length: Int, layer: Int, kvHead: Int,
                            cache: PagedKVCache, scale: Float, scratch: UnsafeMutablePointer<Slots>) {
        let dimension = cache.headDimension
        let blockSize = cache.blockSize
        let scores = scratch, weights = scratch + heads
        output.initialize(repeating: 0, count: heads * dimension)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * maximumGroup) { running in
            let maxima = running.baseAddress!, sums = maxima + maximumGroup
            for head in 0..<heads {
                maxima[head] = -.infinity
                sums[head] = 0
            }
            var start = 0
            var blockIndex = 0
            while start < length {
                let block = Int(blockTable[blockIndex])
                let keys = cache.keys(layer: layer, block: block, kvHead: kvHead)
                let values = cache.values(layer: layer, block: block, kvHead: kvHead)
                var groupStart = 0
                while groupStart < blockSize && start + groupStart < length {
                    let count = min(16, length - start - groupStart)
                    computeScores(queries: queries, heads: heads, keys: keys + groupStart, stride: blockSize,
                                  dimension: dimension, scale: scale, valid: count, scores: scores)
                    for head in 0..<heads {
                        let newMaximum = max(maxima[head], largestLane(scores[head]))
                        let correction = portableUnitExponential(maxima[head] - newMaximum)
                        if correction != 1 {
                            multiply(output + head * dimension, count: dimension, by: correction)
                        }
                        let probabilities = exponential(scores[head] - Slots(repeating: newMaximum))
                        weights[head] = probabilities
                        sums[head] = sums[head] * correction + probabilities.sum()
                        maxima[head] = newMaximum
                    }
                    accumulate(values: values + groupStart * dimension, count: count, dimension: dimension,
                               weights: weights, heads: heads, output: output)
                    groupStart += 16
                }
                start += blockSize
                blockIndex += 1
            }
            for head in 0..<heads {
                multiply(output + head * dimension, count: dimension, by: 1 / sums[head])
            }
        }
    }

    /// scores[h][s] = scale · Σ_d q[h][d] · K[d][s] for 16 slots, −∞ for slots ≥ `valid`
    /// (unwritten slots may hold any bits, including NaN).
    @inline(__always)
    static func computeScores(queries: UnsafePointer<Float>, heads: Int, keys: UnsafePointer<Float>, stride: Int,
                              dimension: Int, scale: Float, valid: Int, scores: UnsafeMutablePointer<Slots>) {
        for head in 0..<heads {
            let query = queries + head * dimension
            var sum = Slots()
            for index in 0..<dimension {
                let row = UnsafeRawPointer(keys + index * stride).loadUnaligned(as: Slots.self)
                sum += Slots(repeating: query[index]) * row
            }
            sum *= scale
            if valid < 16 {
                sum.replace(with: -.infinity, where: laneNumbers .>= SIMD16<Int32>(repeating: Int32(valid)))
            }
            scores[head] = sum
        }
    }

    /// output[h] += Σ_{s < count} weights[h][s] · V[s] for every head of the group.
    @inline(__always)
    static func accumulate(values: UnsafePointer<Float>, count: Int, dimension: Int,
                           weights: UnsafePointer<Slots>, heads: Int, output: UnsafeMutablePointer<Float>) {
        typealias Lanes = SIMD8<Float>
        for head in 0..<heads {
            let target = output + head * dimension
            let headWeights = weights[head]
            var index = 0
            // Eight registers of eight lanes: a 64-wide slice of the output stays in registers
            // while the slots stream past.
            while index + 64 <= dimension {
                let base = UnsafeMutableRawPointer(target + index)
                var a0 = base.loadUnaligned(fromByteOffset: 0, as: Lanes.self)
                var a1 = base.loadUnaligned(fromByteOffset: 32, as: Lanes.self)
                var a2 = base.loadUnaligned(fromByteOffset: 64, as: Lanes.self)
                var a3 = base.loadUnaligned(fromByteOffset: 96, as: Lanes.self)
                var a4 = base.loadUnaligned(fromByteOffset: 128, as: Lanes.self)
                var a5 = base.loadUnaligned(fromByteOffset: 160, as: Lanes.self)
                var a6 = base.loadUnaligned(fromByteOffset: 192, as: Lanes.self)
                var a7 = base.loadUnaligned(fromByteOffset: 224, as: Lanes.self)
                for slot in 0..<count {
                    let weight = Lanes(repeating: headWeights[slot])
                    let row = UnsafeRawPointer(values + slot * dimension + index)
                    a0 += weight * row.loadUnaligned(fromByteOffset: 0, as: Lanes.self)
                    a1 += weight * row.loadUnaligned(fromByteOffset: 32, as: Lanes.self)
                    a2 += weight * row.loadUnaligned(fromByteOffset: 64, as: Lanes.self)
                    a3 += weight * row.loadUnaligned(fromByteOffset: 96, as: Lanes.self)
                    a4 += weight * row.loadUnaligned(fromByteOffset: 128, as: Lanes.self)
                    a5 += weight * row.loadUnaligned(fromByteOffset: 160, as: Lanes.self)
                    a6 += weight * row.loadUnaligned(fromByteOffset: 192, as: Lanes.self)
                    a7 += weight * row.loadUnaligned(fromByteOffset: 224, as: Lanes.self)
                }
                base.storeBytes(of: a0, toByteOffset: 0, as: Lanes.self)
                base.storeBytes(of: a1, toByteOffset: 32, as: Lanes.self)
                base.storeBytes(of: a2, toByteOffset: 64, as: Lanes.self)
                base.storeBytes(of: a3, toByteOffset: 96, as: Lanes.self)
                base.storeBytes(of: a4, toByteOffset: 128, as: Lanes.self)
                base.storeBytes(of: a5, toByteOffset: 160, as: Lanes.self)
                base.storeBytes(of: a6, toByteOffset: 192, as: Lanes.self)
                base.storeBytes(of: a7, toByteOffset: 224, as: Lanes.self)
                index += 64
            }
            while index < dimension {
                var sum = target[index]
                for slot in 0..<count { sum += headWeights[slot] * values[slot * dimension + index] }
                target[index] = sum
                index += 1
            }
        }
    }

    static let laneNumbers = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// The largest of 16 lanes, by halving (no lane-by-lane loop).
    @inline(__always)
    static func largestLane(_ x: Slots) -> Float {
        // Mask selects vectorize; the standard pointwiseMax goes lane by lane.
        let eight = x.lowHalf.replacing(with: x.highHalf, where: x.highHalf .> x.lowHalf)
        let four = eight.lowHalf.replacing(with: eight.highHalf, where: eight.highHalf .> eight.lowHalf)
        let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
        return max(two[0], two[1])
    }

    /// `portableUnitExponential` on 16 lanes at once (the same operations, lane by lane).
    @inline(__always)
    static func exponential(_ x: Slots) -> Slots {
        let floor = Slots(repeating: -87)
        let zero = Slots()
        var clamped = x.replacing(with: floor, where: x .< floor)
        clamped.replace(with: zero, where: clamped .> zero)
        let shifted = clamped * 1.442_695_04 + Slots(repeating: 12_582_912)
        let k = shifted - Slots(repeating: 12_582_912)
        let r = (clamped - k * 0.693_145_751_953_125) - k * 1.428_606_820_286_226_8e-06
        var p = Slots(repeating: 1.0 / 5040)
        p = p * r + Slots(repeating: 1.0 / 720)
        p = p * r + Slots(repeating: 1.0 / 120)
        p = p * r + Slots(repeating: 1.0 / 24)
        p = p * r + Slots(repeating: 1.0 / 6)
        p = p * r + Slots(repeating: 0.5)
        p = p * r + Slots(repeating: 1)
        p = p * r + Slots(repeating: 1)
        let kBits = unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((kBits &+ 127) &<< 23, to: Slots.self)
        let result = p * scale
        // Below −87 (and −∞, NaN) the result is 0, as in the scalar function.
        return result.replacing(with: 0, where: .!(x .>= Slots(repeating: -87)))
    }

    @inline(__always)
    static func multiply(_ vector: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for index in 0..<count { vector[index] *= factor }
    }
}
