import Foundation
import KilnFormats
import KilnTensor
import Testing

/// Matmul against the single-threaded reference, on random well-formed weights.
@Suite struct MatmulTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    @Test(arguments: types)
    func pooledMatmulMatchesReference(type: GGMLType) throws {
        let rows = 70, columns = 512
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: 7 + UInt64(type.rawValue))
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace(maxBatch: 1, maxColumns: 64)
        for batch in [1, 3, 9] {
            var rng = SeededGenerator(seed: UInt64(batch))
            let input = rng.floats(batch * columns)
            var expected = [Float](repeating: 0, count: batch * rows)
            var actual = [Float](repeating: .nan, count: batch * rows)
            Matmul.reference(weights.matrix, input: input, batch: batch, output: &expected)
            Matmul.multiply(weights.matrix, input: input, batch: batch, output: &actual, pool: pool,
                            workspace: workspace)
            let bound = try toleranceBound(weights.matrix, input: input, batch: batch)
            for i in 0..<batch * rows {
                #expect(abs(actual[i] - expected[i]) <= bound[i], "\(type) batch \(batch) index \(i)")
            }
        }
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
            let targets = [MatmulTarget(weight: a.matrix, output: out.baseAddress!, outputStride: 64),
                           MatmulTarget(weight: b.matrix, output: out.baseAddress! + 40, outputStride: 64)]
            Matmul.multiply(targets, input: input, batch: batch, pool: pool, workspace: workspace)
        }
        for r in 0..<batch {
            for i in 0..<40 { #expect(abs(combined[r * 64 + i] - expectedA[r * 40 + i]) < 0.05) }
            for i in 0..<24 { #expect(abs(combined[r * 64 + 40 + i] - expectedB[r * 24 + i]) < 0.05) }
        }
    }
}

/// Per-output tolerance for a kernel that quantizes activations to 8 bits (or sums in another
/// order): `1e-5 · Σ|w·x| + 0.008 · Σ|w|·max|x_block| / 127`-style bound computed from the
/// dequantized weights. See `Matmul` for the derivation.
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
                // Rounding each activation to 1/127 of its block's maximum moves it by at most half a step.
                quantization += blockWeight * blockMax / 254
            }
            bounds[b * weight.rows + r] = 2e-5 * magnitude + quantization + 1e-6
        }
    }
    return bounds
}
