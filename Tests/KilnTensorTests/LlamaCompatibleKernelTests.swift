import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// The kernels that reproduce llama.cpp's CPU arithmetic (half-accumulator and tiled flash
/// attention, the split-range merge, SwiGLU's exponential): AVX2 and portable bodies give the same
/// bits, results do not depend on how spans or queries are grouped, and each stays within its
/// stated rounding of a double-precision reference.
@Suite struct LlamaCompatibleKernelTests {
    static let dim = 64, rowStride = 3 * 64, count = 150

    struct Cache {
        var keys: [UInt16], values: [UInt16]
        var keyFloats: [Float], valueFloats: [Float]
    }

    static func makeCache(seed: UInt64) -> Cache {
        var rng = SeededGenerator(seed: seed)
        let keys = rng.floats(count * rowStride, scale: 2), values = rng.floats(count * rowStride)
        var keyHalves = [UInt16](repeating: 0, count: keys.count), valueHalves = keyHalves
        kiln_float_to_half(keys, keys.count, &keyHalves)
        kiln_float_to_half(values, values.count, &valueHalves)
        var keyFloats = [Float](repeating: 0, count: keys.count), valueFloats = keyFloats
        kiln_half_to_float(keyHalves, keyHalves.count, &keyFloats)
        kiln_half_to_float(valueHalves, valueHalves.count, &valueFloats)
        return Cache(keys: keyHalves, values: valueHalves, keyFloats: keyFloats, valueFloats: valueFloats)
    }

    /// Softmax attention in double over positions first ..< length (keys and values as stored).
    static func reference(
        _ q: ArraySlice<Float>, _ cache: Cache, from first: Int = 0, length: Int, roundQueryToHalf: Bool
    ) -> [Double] {
        let query = q.map { roundQueryToHalf ? Double(Float(Float16($0))) : Double($0) }
        var scores = [Double](repeating: -.infinity, count: length)
        for t in first..<length {
            var dot = 0.0
            for i in 0..<dim { dot += query[i] * Double(cache.keyFloats[t * rowStride + i]) }
            scores[t] = dot * 0.125
        }
        let maximum = scores.max()!
        let weights = scores.map { exp($0 - maximum) }
        let total = weights.reduce(0, +)
        return (0..<dim).map { i in (0..<length).reduce(0.0) { $0 + weights[$1] * Double(cache.valueFloats[$1 * rowStride + i]) } / total }
    }

    /// Runs the half-accumulator span kernel over `spans` (consecutive), SIMD or portable body.
    static func halfAccumulate(_ q: [Float], _ cache: Cache, from start: Int, spans: [Int], portable: Bool) -> [Float] {
        var state = [Float](repeating: 0, count: dim + 2)
        kiln_attention_begin(&state, Int32(dim))
        var position = start
        cache.keys.withUnsafeBufferPointer { k in
            cache.values.withUnsafeBufferPointer { v in
                for span in spans {
                    (portable ? kiln_attention_span_half_scalar : kiln_attention_span_half)(
                        q, k.baseAddress! + position * rowStride, v.baseAddress! + position * rowStride, rowStride, Int32(span),
                        Int32(dim), 0.125, &state)
                    position += span
                }
            }
        }
        return state
    }

    @Test func halfAccumulatorBodiesAgreeForAnySpansAndApproximateTheReference() {
        var rng = SeededGenerator(seed: 11)
        let q = rng.floats(Self.dim, scale: 2)
        let cache = Self.makeCache(seed: 12)
        let simd = Self.halfAccumulate(q, cache, from: 0, spans: [16, 16, 50, 68], portable: false)
        let scalar = Self.halfAccumulate(q, cache, from: 0, spans: [16, 16, 50, 68], portable: true)
        let other = Self.halfAccumulate(q, cache, from: 0, spans: [1, 149], portable: false)
        #expect(simd == scalar, "AVX2 and portable bodies")
        #expect(simd == other, "span boundaries must not matter: the arithmetic is per key")
        var out = [Float](repeating: 0, count: Self.dim)
        kiln_attention_finish(simd, Int32(Self.dim), &out)
        let expected = Self.reference(q[...], cache, length: Self.count, roundQueryToHalf: true)
        // The accumulator is rounded to a half (relative 2⁻¹¹) after each of 150 keys: the error is a
        // random walk of such roundings of a value below max|v| = 1, so well under 150 · 2⁻¹² ≈ 0.04;
        // 5e-3 leaves room for √150 growth with margin.
        for i in 0..<Self.dim { #expect(abs(Double(out[i]) - expected[i]) <= 5e-3, "element \(i)") }
    }

    @Test func splitRangeMergedApproximatesTheReference() {
        var rng = SeededGenerator(seed: 13)
        let q = rng.floats(Self.dim, scale: 2)
        let cache = Self.makeCache(seed: 14)
        var total = [Float](repeating: 0, count: Self.dim + 2)
        kiln_attention_begin(&total, Int32(Self.dim))
        for (start, span) in [(0, 80), (80, 70)] {
            let part = Self.halfAccumulate(q, cache, from: start, spans: [span], portable: false)
            kiln_attention_merge(&total, part, Int32(Self.dim))
        }
        var empty = [Float](repeating: 0, count: Self.dim + 2)
        kiln_attention_begin(&empty, Int32(Self.dim))
        let before = total
        kiln_attention_merge(&total, empty, Int32(Self.dim))
        #expect(total == before, "an empty part changes nothing")
        var out = [Float](repeating: 0, count: Self.dim)
        kiln_attention_finish(total, Int32(Self.dim), &out)
        let expected = Self.reference(q[...], cache, length: Self.count, roundQueryToHalf: true)
        for i in 0..<Self.dim { #expect(abs(Double(out[i]) - expected[i]) <= 5e-3, "element \(i)") }
    }

    /// Gemma 3's head width (256), the widest the tiled body takes: AVX2 and portable bodies give the
    /// same bits, a query's result does not depend on the others, and both are within float
    /// accumulation of a double softmax.
    @Test func tiledBodiesTakeGemmaWideHeads() {
        let dim = 256, length = 100, first = 20, rows = 64
        var rng = SeededGenerator(seed: 25)
        let queries = rng.floats(rows * dim, scale: 0.5)
        let keys = rng.floats(length * dim, scale: 2), values = rng.floats(length * dim)
        var keyHalves = [UInt16](repeating: 0, count: keys.count), valueHalves = keyHalves
        kiln_float_to_half(keys, keys.count, &keyHalves)
        kiln_float_to_half(values, values.count, &valueHalves)
        func run(rowsPerCall: Int, portable: Bool) -> [Float] {
            var out = [Float](repeating: .nan, count: rows * dim)
            keyHalves.withUnsafeBufferPointer { k in
                valueHalves.withUnsafeBufferPointer { v in
                    queries.withUnsafeBufferPointer { q in
                        out.withUnsafeMutableBufferPointer { o in
                            let keyBlocks = [Optional(k.baseAddress!)], valueBlocks = [Optional(v.baseAddress!)]
                            var row = 0
                            while row < rows {
                                let n = min(rowsPerCall, rows - row)
                                (portable ? kiln_attention_tiled_scalar : kiln_attention_tiled)(
                                    q.baseAddress! + row * dim, dim, Int32(n), Int32(first + row), keyBlocks, valueBlocks,
                                    Int32(128), dim, Int32(dim), 0.0625, o.baseAddress! + row * dim, dim, 0)
                                row += n
                            }
                        }
                    }
                }
            }
            return out
        }
        #expect(kiln_attention_tiled_supports(Int32(dim)) != 0)
        let grouped = run(rowsPerCall: 64, portable: false)
        #expect(grouped == run(rowsPerCall: 64, portable: true), "AVX2 and portable bodies")
        #expect(grouped == run(rowsPerCall: 1, portable: false), "a query's result must not depend on the others")
        for row in stride(from: 0, to: rows, by: 9) {
            let position = first + row
            var weights = [Double](repeating: 0, count: position + 1)
            for t in 0...position {
                var dot = 0.0
                for d in 0..<dim { dot += Double(queries[row * dim + d]) * Double(Float(Float16(bitPattern: keyHalves[t * dim + d]))) }
                weights[t] = dot * 0.0625
            }
            let top = weights.max()!
            weights = weights.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            for d in 0..<dim {
                var expected = 0.0
                for t in 0...position { expected += weights[t] * Double(Float(Float16(bitPattern: valueHalves[t * dim + d]))) }
                #expect(abs(Double(grouped[row * dim + d]) - expected / total) <= 2e-5, "row \(row) element \(d)")
            }
        }
    }

    /// Without a window and with one of 40 keys (which cuts every query past position 39 and
    /// leaves whole tiles outside the later queries' windows).
    @Test(arguments: [0, 40])
    func tiledBodiesAgreeWhateverTheQueryGroupingAndMatchTheReference(window: Int) {
        var rng = SeededGenerator(seed: 15)
        let blockSize = 16, firstPosition = 30, rows = 120
        let queries = rng.floats(rows * Self.dim, scale: 2)
        let cache = Self.makeCache(seed: 16)
        // Blocks of 16 positions, scattered: block b of the sequence is physical block (b · 7) mod 10.
        let blockCount = Self.count / blockSize + 1
        var physicalKeys = [UInt16](repeating: 0, count: 10 * blockSize * Self.rowStride), physicalValues = physicalKeys
        for position in 0..<Self.count {
            let physical = (position / blockSize * 7) % blockCount, slot = position % blockSize
            for i in 0..<Self.rowStride {
                physicalKeys[(physical * blockSize + slot) * Self.rowStride + i] = cache.keys[position * Self.rowStride + i]
                physicalValues[(physical * blockSize + slot) * Self.rowStride + i] = cache.values[position * Self.rowStride + i]
            }
        }
        func run(rowsPerCall: Int, portable: Bool) -> [Float] {
            var out = [Float](repeating: 0, count: rows * Self.dim)
            physicalKeys.withUnsafeBufferPointer { k in
                physicalValues.withUnsafeBufferPointer { v in
                    queries.withUnsafeBufferPointer { q in
                        out.withUnsafeMutableBufferPointer { o in
                            let keyBlocks = (0..<blockCount).map { Optional(k.baseAddress! + ($0 * 7) % blockCount * blockSize * Self.rowStride) }
                            let valueBlocks = (0..<blockCount).map { Optional(v.baseAddress! + ($0 * 7) % blockCount * blockSize * Self.rowStride) }
                            var row = 0
                            while row < rows {
                                let n = min(rowsPerCall, rows - row)
                                (portable ? kiln_attention_tiled_scalar : kiln_attention_tiled)(
                                    q.baseAddress! + row * Self.dim, Self.dim, Int32(n), Int32(firstPosition + row), keyBlocks,
                                    valueBlocks, Int32(blockSize), Self.rowStride, Int32(Self.dim), 0.125,
                                    o.baseAddress! + row * Self.dim, Self.dim, Int32(window))
                                row += n
                            }
                        }
                    }
                }
            }
            return out
        }
        let grouped = run(rowsPerCall: 64, portable: false)
        #expect(grouped == run(rowsPerCall: 64, portable: true), "AVX2 and portable bodies")
        #expect(grouped == run(rowsPerCall: 1, portable: false), "a query's result must not depend on the others")
        #expect(grouped == run(rowsPerCall: 37, portable: false))
        for row in stride(from: 0, to: rows, by: 7) {
            let position = firstPosition + row
            let expected = Self.reference(
                queries[(row * Self.dim)..<((row + 1) * Self.dim)], cache,
                from: window > 0 ? max(0, position - window + 1) : 0, length: position + 1, roundQueryToHalf: false)
            // Float accumulation over ≤ 150 keys of values below 1 and ggml's exp (≈ 2 ulp).
            for i in 0..<Self.dim {
                #expect(abs(Double(grouped[row * Self.dim + i]) - expected[i]) <= 2e-5, "row \(row) element \(i)")
            }
        }
    }

    @Test func siluExponentialBodiesAgreeAndAreAccurate() {
        var rng = SeededGenerator(seed: 17)
        var x = rng.floats(4096, scale: 20)
        x += [0, -0.0, 1, -1, 87, -87, 88, -88, 90, -90, 100, -100, 130, -130, 200, -200, 1e-8, .infinity, -.infinity]
        var simd = x, scalar = x
        kiln_silu(&simd, simd.count)
        kiln_silu_scalar(&scalar, scalar.count)
        for i in x.indices {
            #expect(simd[i].bitPattern == scalar[i].bitPattern || (simd[i].isNaN && scalar[i].isNaN), "silu(\(x[i]))")
            guard x[i].isFinite else { continue }
            let g = Double(x[i]), expected = g / (1 + exp(-g))
            // ggml's exp is within ~1.5 ulp; the division adds half an ulp.
            #expect(abs(Double(simd[i]) - expected) <= 4e-7 * max(abs(expected), 1e-30) + 1e-37, "silu(\(x[i])) = \(simd[i])")
        }
    }
}
