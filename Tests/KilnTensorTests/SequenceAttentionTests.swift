import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// `SequenceAttention` against the plain Double loops: causal and not, in row blocks, and the fused
/// small-head kernel's two bodies.
@Suite struct SequenceAttentionTests {
    @Test(arguments: [false, true])
    func attentionMatchesReference(causal: Bool) {
        let (queries, keys, heads, headDim) = (causal ? 19 : 13, causal ? 19 : 37, 3, 5)
        var random = TestRandom(causal ? 1 : 2)
        let q = random.values(queries * heads * headDim), k = random.values(keys * heads * headDim), v = random.values(keys * heads * headDim)
        var fast = [Float](repeating: 0, count: queries * heads * headDim), slow = fast
        var scratch = [Float](
            repeating: 0,
            count: SequenceAttention.scratchCount(
                queryCount: queries, keyCount: keys, heads: heads,
                headDim: headDim, context: testKernels))
        SequenceAttention.attend(
            query: q, key: k, value: v, output: &fast, queryCount: queries, keyCount: keys, heads: heads,
            headDim: headDim, scale: 0.7, causal: causal, scratch: &scratch, context: testKernels)
        SequenceAttention.referenceAttend(
            query: q, key: k, value: v, output: &slow, queryCount: queries, keyCount: keys,
            heads: heads, headDim: headDim, scale: 0.7, causal: causal)
        #expect(maxAbsDifference(fast, slow) < 1e-5)
    }

    @Test(arguments: [
        (100, 70, 2, 40, false), (77, 77, 3, 16, true), (5, 300, 1, 8, false), (100, 300, 2, 40, true),
        (53, 517, 1, 40, false), (49, 61, 2, 12, false),
    ])
    func attentionInRowBlocksMatchesReference(shape: (Int, Int, Int, Int, Bool)) {
        let (queries, keys, heads, headDim, causal) = shape
        var random = TestRandom(UInt64(queries * 100 + keys))
        let q = random.values(queries * heads * headDim), k = random.values(keys * heads * headDim), v = random.values(keys * heads * headDim)
        var fast = [Float](repeating: .nan, count: queries * heads * headDim), slow = fast
        var scratch = [Float](
            repeating: .nan,
            count: SequenceAttention.scratchCount(
                queryCount: queries, keyCount: keys, heads: heads,
                headDim: headDim, context: testKernels))
        SequenceAttention.attend(
            query: q, key: k, value: v, output: &fast, queryCount: queries, keyCount: keys, heads: heads,
            headDim: headDim, scale: 0.3, causal: causal, scratch: &scratch, context: testKernels)
        SequenceAttention.referenceAttend(
            query: q, key: k, value: v, output: &slow, queryCount: queries, keyCount: keys,
            heads: heads, headDim: headDim, scale: 0.3, causal: causal)
        #expect(maxAbsDifference(fast, slow) < 1e-5)
    }

    @Test(arguments: [(4, false), (8, true), (3, true)])
    func smallHeadKernelBothBodiesMatchReference(parameters: (Int, Bool)) {
        // One head, 21 queries over 29 keys (not a multiple of 8: the padded lanes must not count).
        let (dim, causal) = parameters
        let (queries, keys) = (causal ? 29 : 21, 29)
        let padded = (keys + 7) & ~7
        var random = TestRandom(UInt64(dim * 10 + (causal ? 1 : 0)))
        let q = random.values(queries * dim), k = random.values(keys * dim), v = random.values(keys * dim)
        var keysT = [Float](repeating: 0, count: dim * padded), valuesT = keysT
        for token in 0..<keys {
            for d in 0..<dim {
                keysT[d * padded + token] = k[token * dim + d]
                valuesT[d * padded + token] = v[token * dim + d]
            }
        }
        var expected = [Float](repeating: 0, count: queries * dim)
        SequenceAttention.referenceAttend(
            query: q, key: k, value: v, output: &expected, queryCount: queries, keyCount: keys,
            heads: 1, headDim: dim, scale: 0.8, causal: causal)
        var vector = [Float](repeating: .nan, count: queries * dim), portable = vector
        var scores = [Float](repeating: .nan, count: 2 * padded)
        kiln_attention_small_head(
            q, dim, Int32(queries), keysT, valuesT, padded, Int32(keys), Int32(dim), 0.8,
            causal ? 1 : -1, &scores, &vector, dim)
        kiln_attention_small_head_scalar(
            q, dim, Int32(queries), keysT, valuesT, padded, Int32(keys), Int32(dim), 0.8,
            causal ? 1 : -1, &scores, &portable, dim)
        #expect(maxAbsDifference(vector, expected) < 1e-5)
        #expect(maxAbsDifference(portable, expected) < 1e-5)
    }
}
