import Foundation
import KilnTensor
import Testing

@Suite struct AttentionTests {
    /// A `[capacity × kvHeads × headDimension]` cache of random keys and values.
    final class Cache {
        let keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer
        let view: KVCacheView
        init(type: KVElementType, capacity: Int, kvHeads: Int, headDimension: Int, seed: UInt64) {
            var rng = SeededGenerator(seed: seed)
            let count = capacity * kvHeads * headDimension
            keys = .allocate(byteCount: count * type.byteCount, alignment: 64)
            values = .allocate(byteCount: count * type.byteCount, alignment: 64)
            let k = rng.floats(count, scale: 2), v = rng.floats(count)
            switch type {
            case .f32:
                keys.copyMemory(from: k, byteCount: count * 4)
                values.copyMemory(from: v, byteCount: count * 4)
            case .f16:
                Elementwise.convertToHalf(k, count: count, into: keys.assumingMemoryBound(to: UInt16.self))
                Elementwise.convertToHalf(v, count: count, into: values.assumingMemoryBound(to: UInt16.self))
            }
            view = KVCacheView(keys: keys, values: values, elementType: type,
                               positionStride: kvHeads * headDimension, headStride: headDimension)
        }
        deinit { keys.deallocate(); values.deallocate() }
    }

    @Test(arguments: [KVElementType.f32, .f16])
    func groupedQueryAttentionMatchesReference(type: KVElementType) {
        let shape = AttentionShape(headCount: 9, kvHeadCount: 3, headDimension: 64)
        let cache = Cache(type: type, capacity: 300, kvHeads: 3, headDimension: 64, seed: 4)
        var rng = SeededGenerator(seed: 8)
        let query = rng.floats(9 * 64, scale: 2)
        for length in [1, 2, 63, 64, 65, 200, 300] {
            var expected = [Float](repeating: 0, count: 9 * 64), actual = expected
            Attention.reference(query: query, cache: cache.view, length: length, shape: shape, output: &expected)
            Attention.attend(query: query, cache: cache.view, length: length, shape: shape, output: &actual)
            for i in 0..<9 * 64 { #expect(abs(actual[i] - expected[i]) < 2e-5, "length \(length) index \(i)") }
        }
    }

    @Test func lengthOneReturnsFirstValue() {
        let shape = AttentionShape(headCount: 4, kvHeadCount: 2, headDimension: 8)
        let cache = Cache(type: .f32, capacity: 4, kvHeads: 2, headDimension: 8, seed: 1)
        let query = [Float](repeating: 1, count: 32)
        var out = [Float](repeating: 0, count: 32)
        Attention.attend(query: query, cache: cache.view, length: 1, shape: shape, output: &out)
        let values = cache.values.assumingMemoryBound(to: Float.self)
        for head in 0..<4 {
            for i in 0..<8 { #expect(out[head * 8 + i] == values[(head / 2) * 8 + i]) }
        }
    }

    @Test func pooledCausalBatchMatchesSingleQueries() {
        let shape = AttentionShape(headCount: 9, kvHeadCount: 3, headDimension: 64)
        let cache = Cache(type: .f16, capacity: 40, kvHeads: 3, headDimension: 64, seed: 6)
        var rng = SeededGenerator(seed: 12)
        let queries = rng.floats(40 * 576)
        var batched = [Float](repeating: 0, count: 40 * 576)
        let pool = WorkerPool(threadCount: 2)
        let view = cache.view
        Attention.attend(queries: queries, queryCount: 40, queryStride: 576, outputs: &batched,
                         outputStride: 576, shape: shape, pool: pool) { q in (view, q + 1) }
        for q in 0..<40 {
            var single = [Float](repeating: 0, count: 576)
            queries.withUnsafeBufferPointer { all in
                Attention.attend(query: all.baseAddress! + q * 576, cache: view, length: q + 1,
                                 shape: shape, output: &single)
            }
            #expect(Array(batched[q * 576 ..< (q + 1) * 576]) == single)
        }
    }
}
