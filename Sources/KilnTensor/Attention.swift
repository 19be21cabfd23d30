import Foundation

/// Scaled dot-product attention of one query position over a KV cache, with grouped-query heads
/// and a causal length: the query sees cache positions `0 ..< length` (its own included).
///
/// `output[h] = Σ_t softmax_t(scale · q[h]·k[t][g(h)]) · v[t][g(h)]` with `g(h) = h / (headCount / kvHeadCount)`.
/// The softmax is computed online in chunks of keys (running maximum and sum), so no score buffer
/// the size of the context is needed.
public enum Attention {
    /// Attends one query position.
    ///
    /// - Parameters:
    ///   - query: `[headCount × headDimension]` floats (RoPE already applied).
    ///   - cache: the sequence's keys and values for this layer.
    ///   - length: visible positions, `1 ... cache capacity`.
    ///   - output: `[headCount × headDimension]` floats, written.
    public static func attend(query: UnsafePointer<Float>, cache: KVCacheView, length: Int,
                              shape: AttentionShape, output: UnsafeMutablePointer<Float>) {
        for head in 0..<shape.headCount {
            attendHead(head, query: query, cache: cache, length: length, shape: shape, output: output)
        }
    }

    /// Attends `queryCount` query positions in one pool dispatch, parallel over (query, head) pairs:
    /// prefill (one cache, growing lengths) or batched decode (one cache per sequence).
    ///
    /// - Parameters:
    ///   - queries: `[queryCount × queryStride]` floats; each row holds `headCount × headDimension`.
    ///   - outputs: `[queryCount × outputStride]` floats, written likewise.
    ///   - source: for query `i`, its cache view and causal length. Called from worker threads.
    public static func attend(queries: UnsafePointer<Float>, queryCount: Int, queryStride: Int,
                              outputs: UnsafeMutablePointer<Float>, outputStride: Int,
                              shape: AttentionShape, pool: WorkerPool,
                              source: (_ query: Int) -> (cache: KVCacheView, length: Int)) {
        let heads = shape.headCount
        pool.parallelFor(queryCount * heads, grain: max(1, heads / 3)) { items in
            for item in items {
                let q = item / heads, head = item % heads
                let (cache, length) = source(q)
                attendHead(head, query: queries + q * queryStride, cache: cache, length: length,
                           shape: shape, output: outputs + q * outputStride)
            }
        }
    }

    static func attendHead(_ head: Int, query: UnsafePointer<Float>, cache: KVCacheView, length: Int,
                           shape: AttentionShape, output: UnsafeMutablePointer<Float>) {
        precondition(length > 0, "Attention: causal length must be at least 1")
        let dimension = shape.headDimension
        let kvHead = head / (shape.headCount / shape.kvHeadCount)
        let q = query + head * dimension, out = output + head * dimension
        let chunk = 64
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buffer in
            let scores = buffer.baseAddress!
            for i in 0..<dimension { out[i] = 0 }
            var runningMax = -Float.infinity, runningSum: Float = 0
            var start = 0
            while start < length {
                let count = min(chunk, length - start)
                var chunkMax = -Float.infinity
                for t in 0..<count {
                    var dot: Float = 0
                    for i in 0..<dimension { dot += q[i] * cache.key(start + t, kvHead, i) }
                    scores[t] = dot * shape.scale
                    chunkMax = max(chunkMax, scores[t])
                }
                let newMax = max(runningMax, chunkMax)
                let correction = expf(runningMax - newMax)
                runningSum *= correction
                for i in 0..<dimension { out[i] *= correction }
                for t in 0..<count {
                    let p = expf(scores[t] - newMax)
                    runningSum += p
                    for i in 0..<dimension { out[i] += p * cache.value(start + t, kvHead, i) }
                }
                runningMax = newMax
                start += count
            }
            let inverse = 1 / runningSum
            for i in 0..<dimension { out[i] *= inverse }
        }
    }

    /// The plain two-pass reference (full score vector, `Double` sums): the oracle for tests.
    /// Allocates; not for the hot path.
    public static func reference(query: UnsafePointer<Float>, cache: KVCacheView, length: Int,
                                 shape: AttentionShape, output: UnsafeMutablePointer<Float>) {
        let dimension = shape.headDimension
        let group = shape.headCount / shape.kvHeadCount
        for head in 0..<shape.headCount {
            let kvHead = head / group
            var scores = [Double](repeating: 0, count: length)
            for t in 0..<length {
                var dot: Double = 0
                for i in 0..<dimension { dot += Double(query[head * dimension + i]) * Double(cache.key(t, kvHead, i)) }
                scores[t] = dot * Double(shape.scale)
            }
            let maximum = scores.max()!
            let weights = scores.map { exp($0 - maximum) }
            let total = weights.reduce(0, +)
            for i in 0..<dimension {
                var sum: Double = 0
                for t in 0..<length { sum += weights[t] * Double(cache.value(t, kvHead, i)) }
                output[head * dimension + i] = Float(sum / total)
            }
        }
    }
}
