import CKilnKernels
import Foundation
import Testing
import KilnTensor

/// `kiln_attention_weighted_values` (the softmax fused into the packing of attention's values
/// product), both bodies, against the softmax and product written out in Double: rows past the
/// packing's row block (120), keys past its depth slice (256) and not a multiple of 8, head dims
/// with a narrow last panel (40 = 16 + 16 + 8, 5) or none (16), with and without a causal limit.
@Suite struct AttentionValuesTests {
    /// out[r, d] = Σ_j w(r, j) v[j, d] / Σ_j w(r, j), w = exp(scale·(s − row max)) over visible keys.
    static func reference(scores: [Float], values: [Float], rows: Int, keys: Int, dim: Int, scale: Float,
                          causalFirst: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            let visible = causalFirst < 0 ? keys : min(keys, causalFirst + r + 1)
            let line = scores[(r * keys)..<(r * keys + visible)].map(Double.init)
            let maximum = line.max()!
            let weights = line.map { exp(Double(scale) * ($0 - maximum)) }
            let sum = weights.reduce(0, +)
            for d in 0..<dim {
                var total = 0.0
                for j in 0..<visible { total += weights[j] * Double(values[j * dim + d]) }
                out[r * dim + d] = Float(total / sum)
            }
        }
        return out
    }

    @Test(arguments: [(130, 300, 40, -1), (130, 300, 40, 7), (48, 4096, 40, -1), (13, 9, 5, 0), (37, 264, 16, 200)])
    func fusedSoftmaxProductMatchesReference(shape: (Int, Int, Int, Int)) {
        let (rows, keys, dim, causalFirst) = shape
        var random = TestRandom(UInt64(rows * 7 + keys * 3 + dim))
        // Scores of attention's size (±4 after scaling), so the weights span several orders.
        let scores = random.values(rows * keys).map { $0 * 8 }
        let values = random.values(keys * dim)
        let scale: Float = 0.5
        var packed = [Float](repeating: .nan, count: kiln_gemm_packed_b_count(Int32(dim), Int32(keys)))
        kiln_gemm_pack_b(Int32(dim), Int32(keys), Int32(KILN_TYPE_F32), values, dim, 1, &packed)
        var vector = [Float](repeating: .nan, count: rows * dim), portable = vector
        kiln_attention_weighted_values(Int32(rows), Int32(keys), Int32(dim), scores, keys, scale, Int32(causalFirst),
                                       packed, &vector, dim)
        kiln_attention_weighted_values_scalar(Int32(rows), Int32(keys), Int32(dim), scores, keys, scale, Int32(causalFirst),
                                              packed, &portable, dim)
        let expected = Self.reference(scores: scores, values: values, rows: rows, keys: keys, dim: dim, scale: scale,
                                      causalFirst: causalFirst)
        let vectorError = DiffusionFixtures.maxAbsDifference(vector, expected)
        let portableError = DiffusionFixtures.maxAbsDifference(portable, expected)
        print("weighted values \(rows)×\(keys)×\(dim) causal \(causalFirst): max-abs \(vectorError) (AVX2), \(portableError) (portable)")
        #expect(vectorError < 1e-5)
        #expect(portableError < 1e-5)
    }

    /// The output's row stride may exceed the head dim (a head's slice of the [tokens, width] output);
    /// columns outside the slice stay untouched.
    @Test func writesOnlyItsHeadsColumns() {
        let (rows, keys, dim, width) = (20, 70, 40, 120)
        var random = TestRandom(99)
        let scores = random.values(rows * keys), values = random.values(keys * dim)
        var packed = [Float](repeating: 0, count: kiln_gemm_packed_b_count(Int32(dim), Int32(keys)))
        kiln_gemm_pack_b(Int32(dim), Int32(keys), Int32(KILN_TYPE_F32), values, dim, 1, &packed)
        var out = [Float](repeating: -7, count: rows * width)
        out.withUnsafeMutableBufferPointer { buffer in
            kiln_attention_weighted_values(Int32(rows), Int32(keys), Int32(dim), scores, keys, 1, -1, packed,
                                           buffer.baseAddress! + 40, width)
        }
        let expected = Self.reference(scores: scores, values: values, rows: rows, keys: keys, dim: dim, scale: 1, causalFirst: -1)
        for r in 0..<rows {
            for c in 0..<width {
                let value = out[r * width + c]
                if c >= 40 && c < 80 {
                    #expect(abs(value - expected[r * dim + c - 40]) < 1e-5)
                } else {
                    #expect(value == -7)
                }
            }
        }
    }
}
