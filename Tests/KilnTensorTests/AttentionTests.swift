import Foundation
import KilnTensor
import Testing

/// `Attention`'s online softmax (`begin`, `accumulate` span by span, `finish`) over a contiguous
/// cache, with grouped-query heads, against a plain two-pass reference.
@Suite struct AttentionTests {
    /// Head counts of a grouped-query layer: query head h reads KV head h / (heads / kvHeads).
    struct Shape {
        let heads: Int, kvHeads: Int, headDimension: Int
        var scale: Float { 1 / Float(headDimension).squareRoot() }
    }

    /// A `[capacity × kvHeads × headDimension]` cache of random keys and values.
    final class Cache {
        let keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer
        let type: KVElementType, kvHeads: Int, headDimension: Int
        init(type: KVElementType, capacity: Int, kvHeads: Int, headDimension: Int, seed: UInt64) {
            self.type = type
            self.kvHeads = kvHeads
            self.headDimension = headDimension
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
        }
        deinit {
            keys.deallocate()
            values.deallocate()
        }

        func element(_ base: UnsafeMutableRawPointer, _ position: Int, _ kvHead: Int, _ i: Int) -> Float {
            let index = (position * kvHeads + kvHead) * headDimension + i
            switch type {
            case .f32: return base.load(fromByteOffset: index * 4, as: Float.self)
            case .f16: return Float(Float16(bitPattern: base.load(fromByteOffset: index * 2, as: UInt16.self)))
            }
        }
    }

    /// Every query head over cache positions 0..<length, in spans of `span` positions.
    static func attend(
        _ query: UnsafePointer<Float>, cache: Cache, length: Int, shape: Shape, span: Int = .max,
        output: UnsafeMutablePointer<Float>
    ) {
        let dimension = shape.headDimension
        var state = [Float](repeating: 0, count: Attention.stateSize(headDimension: dimension))
        for head in 0..<shape.heads {
            let kvHead = head / (shape.heads / shape.kvHeads)
            Attention.begin(state: &state, headDimension: dimension)
            var position = 0
            while position < length {
                let count = min(span, length - position)
                let offset = ((position * shape.kvHeads + kvHead) * dimension) * cache.type.byteCount
                Attention.accumulate(
                    query: query + head * dimension, keys: cache.keys + offset, values: cache.values + offset,
                    elementType: cache.type, positionStride: shape.kvHeads * dimension, count: count,
                    headDimension: dimension, scale: shape.scale, state: &state)
                position += count
            }
            Attention.finish(state: state, headDimension: dimension, output: output + head * dimension)
        }
    }

    /// The plain two-pass reference (full score vector, `Double` sums).
    static func reference(_ query: [Float], cache: Cache, length: Int, shape: Shape) -> [Float] {
        let dimension = shape.headDimension
        var output = [Float](repeating: 0, count: shape.heads * dimension)
        for head in 0..<shape.heads {
            let kvHead = head / (shape.heads / shape.kvHeads)
            let scores = (0..<length).map { t in
                (0..<dimension).reduce(0.0) { $0 + Double(query[head * dimension + $1]) * Double(cache.element(cache.keys, t, kvHead, $1)) }
                    * Double(shape.scale)
            }
            let maximum = scores.max()!
            let weights = scores.map { exp($0 - maximum) }
            let total = weights.reduce(0, +)
            for i in 0..<dimension {
                let sum = (0..<length).reduce(0.0) { $0 + weights[$1] * Double(cache.element(cache.values, $1, kvHead, i)) }
                output[head * dimension + i] = Float(sum / total)
            }
        }
        return output
    }

    @Test(arguments: [KVElementType.f32, .f16])
    func groupedQueryAttentionMatchesReference(type: KVElementType) {
        let shape = Shape(heads: 9, kvHeads: 3, headDimension: 64)
        let cache = Cache(type: type, capacity: 300, kvHeads: 3, headDimension: 64, seed: 4)
        var rng = SeededGenerator(seed: 8)
        let query = rng.floats(9 * 64, scale: 2)
        for length in [1, 2, 63, 64, 65, 200, 300] {
            let expected = Self.reference(query, cache: cache, length: length, shape: shape)
            var actual = [Float](repeating: 0, count: 9 * 64)
            Self.attend(query, cache: cache, length: length, shape: shape, output: &actual)
            for i in 0..<9 * 64 { #expect(abs(actual[i] - expected[i]) < 2e-5, "length \(length) index \(i)") }
        }
    }

    @Test func lengthOneReturnsFirstValue() {
        let shape = Shape(heads: 4, kvHeads: 2, headDimension: 8)
        let cache = Cache(type: .f32, capacity: 4, kvHeads: 2, headDimension: 8, seed: 1)
        let query = [Float](repeating: 1, count: 32)
        var out = [Float](repeating: 0, count: 32)
        Self.attend(query, cache: cache, length: 1, shape: shape, output: &out)
        let values = cache.values.assumingMemoryBound(to: Float.self)
        for head in 0..<4 {
            for i in 0..<8 { #expect(out[head * 8 + i] == values[(head / 2) * 8 + i]) }
        }
    }

    /// Spans split anywhere give the same result up to rounding (a paged cache's blocks).
    @Test func spansAgreeWithOneSpan() {
        let shape = Shape(heads: 9, kvHeads: 3, headDimension: 64)
        let cache = Cache(type: .f16, capacity: 40, kvHeads: 3, headDimension: 64, seed: 6)
        var rng = SeededGenerator(seed: 12)
        let query = rng.floats(576)
        var whole = [Float](repeating: 0, count: 576), blocks = whole
        Self.attend(query, cache: cache, length: 40, shape: shape, span: 40, output: &whole)
        Self.attend(query, cache: cache, length: 40, shape: shape, span: 16, output: &blocks)
        for i in 0..<576 { #expect(abs(whole[i] - blocks[i]) < 1e-5, "index \(i)") }
    }
}
