import Foundation
import KilnFormats
import KilnTensor
import Testing

/// Matmul against the single-threaded reference, on random well-formed weights.
@Suite struct MatmulTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    static let paths: [Matmul.KernelPath] = [.automatic, .portable, .floatActivations]

    /// Every kernel family against the single-threaded reference, over batch sizes that exercise
    /// the 4-row tiles, their remainders and the 64-row batch chunks. Tolerance: `toleranceBound`.
    @Test(arguments: types, paths)
    func pooledMatmulMatchesReference(type: GGMLType, path: Matmul.KernelPath) throws {
        let rows = 70, columns = 768
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: 7 + UInt64(type.rawValue))
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace(maxBatch: 1, maxColumns: 64)
        for batch in [1, 2, 3, 4, 9, 70] {
            var rng = SeededGenerator(seed: UInt64(batch))
            let input = rng.floats(batch * columns)
            var expected = [Float](repeating: 0, count: batch * rows)
            var actual = [Float](repeating: .nan, count: batch * rows)
            Matmul.reference(weights.matrix, input: input, batch: batch, output: &expected)
            Matmul.multiply(
                weights.matrix, input: input, batch: batch, output: &actual, pool: pool,
                workspace: workspace, path: path)
            let bound = try toleranceBound(weights.matrix, input: input, batch: batch)
            var failures = 0
            for i in 0..<batch * rows where !(abs(actual[i] - expected[i]) <= bound[i]) {
                failures += 1
                if failures <= 3 {
                    Issue.record("\(type) \(path) batch \(batch) [\(i)]: \(actual[i]) vs \(expected[i]) (bound \(bound[i]))")
                }
            }
            #expect(failures == 0)
        }
    }

    /// The quantization error bound is not vacuous: the integer path really differs from the
    /// reference, by less than the bound but more than float rounding alone.
    @Test func integerPathErrorIsWithinButNearItsBound() throws {
        let weights = try TestMatrix(.q4_1, rows: 64, columns: 576, seed: 99)
        let pool = WorkerPool(threadCount: 2)
        var rng = SeededGenerator(seed: 5)
        let input = rng.floats(576)
        var expected = [Float](repeating: 0, count: 64), actual = expected
        Matmul.reference(weights.matrix, input: input, batch: 1, output: &expected)
        Matmul.multiply(
            weights.matrix, input: input, batch: 1, output: &actual, pool: pool,
            workspace: MatmulWorkspace())
        let bound = try toleranceBound(weights.matrix, input: input, batch: 1)
        let worstRatio = (0..<64).map { abs(actual[$0] - expected[$0]) / bound[$0] }.max()!
        #expect(worstRatio < 1)
        #expect(worstRatio > 0.01)
    }

    @Test func multiTargetWritesEachOutputWithStride() throws {
        let a = try TestMatrix(.q4_1, rows: 40, columns: 64, seed: 1)
        let b = try TestMatrix(.q8_0, rows: 24, columns: 64, seed: 2)
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace()
        var rng = SeededGenerator(seed: 3)
        let batch = 3
        let input = rng.floats(batch * 64)
        var combined = [Float](repeating: .nan, count: batch * 64)
        var expectedA = [Float](repeating: 0, count: batch * 40)
        var expectedB = [Float](repeating: 0, count: batch * 24)
        Matmul.reference(a.matrix, input: input, batch: batch, output: &expectedA)
        Matmul.reference(b.matrix, input: input, batch: batch, output: &expectedB)
        combined.withUnsafeMutableBufferPointer { out in
            let targets = [
                MatmulTarget(weight: a.matrix, output: out.baseAddress!, outputStride: 64),
                MatmulTarget(weight: b.matrix, output: out.baseAddress! + 40, outputStride: 64),
            ]
            Matmul.multiply(targets, input: input, batch: batch, pool: pool, workspace: workspace)
        }
        let boundA = try toleranceBound(a.matrix, input: input, batch: batch)
        let boundB = try toleranceBound(b.matrix, input: input, batch: batch)
        for r in 0..<batch {
            for i in 0..<40 { #expect(abs(combined[r * 64 + i] - expectedA[r * 40 + i]) <= boundA[r * 40 + i]) }
            for i in 0..<24 { #expect(abs(combined[r * 64 + 40 + i] - expectedB[r * 24 + i]) <= boundB[r * 24 + i]) }
        }
    }
}

/// Per-output tolerance of an optimized kernel against `Matmul.reference`:
/// - float summation in another order and fused multiply-adds: `2e-5 · Σ_c |w_c·x_c|` (a few hundred
///   terms at float's 6e-8 unit roundoff, with margin);
/// - 8-bit activations (integer kernels): each x_c becomes d'·round(x_c/d) with d = max|x_block|/127
///   and d' = d rounded to a half (relative error ≤ 2⁻¹¹), so it moves by at most d/2 + 127·d·2⁻¹¹;
///   the dot moves by at most Σ_blocks Σ_c |w_c| · max|x_block| · (1/254 + 1/2048).
/// Both bounds are computed from the dequantized weights.
func toleranceBound(_ weight: WeightMatrix, input: [Float], batch: Int) throws -> [Float] {
    let columns = weight.columns
    var row = [Float](repeating: 0, count: columns)
    var bounds = [Float](repeating: 0, count: batch * weight.rows)
    for r in 0..<weight.rows {
        try weight.dequantizeRow(r, into: &row)
        for b in 0..<batch {
            var magnitude: Float = 0, quantization: Float = 0
            for start in stride(from: 0, to: columns, by: 32) {
                var blockMax: Float = 0, blockWeight: Float = 0
                for c in start..<min(start + 32, columns) {
                    let x = input[b * columns + c]
                    magnitude += abs(row[c] * x)
                    blockMax = max(blockMax, abs(x))
                    blockWeight += abs(row[c])
                }
                // Rounding each activation to 1/127 of its block's maximum moves it by at most half a
                // step, and the step itself is kept as a half.
                quantization += blockWeight * blockMax * (1 / 254 + 1 / 2048)
            }
            bounds[b * weight.rows + r] = 2e-5 * magnitude + quantization + 1e-6
        }
    }
    return bounds
}
