import Foundation
import KilnFormats
import KilnTensor
import Testing

/// Kernels on the default model's real weights (SmolLM2-135M-Instruct Q4_1: Q4_1 layers, Q8_0
/// tied embeddings), against the plain reference, and the batch-independence the scheduler relies on.
@Suite struct RealModelKernelTests {
    static var modelPath: String? {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: cached) ? cached : nil
    }

    static func matrix(_ name: String, in file: GGUFFile) throws -> WeightMatrix {
        try WeightMatrix(try #require(file.tensor(named: name), "missing \(name)"), in: file)
    }

    @Test(arguments: ["blk.0.attn_q.weight", "blk.7.ffn_gate.weight", "blk.29.ffn_down.weight", "token_embd.weight"])
    func realWeightsMatchReference(name: String) throws {
        let path = try #require(Self.modelPath, "run Scripts/fetch-model.sh or set KILN_DEFAULT_MODEL")
        let file = try GGUFFile(path: path)
        var weight = try Self.matrix(name, in: file)
        if weight.rows > 2048 {  // the 49152-row output: a slice keeps the reference quick
            weight = try WeightMatrix(
                type: weight.type, rows: 2048, columns: weight.columns,
                bytes: UnsafeRawBufferPointer(start: weight.data, count: 2048 * weight.rowByteCount))
        }
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace(maxBatch: 5, maxColumns: weight.columns)
        var rng = SeededGenerator(seed: 42)
        for batch in [1, 5] {
            let input = rng.floats(batch * weight.columns, scale: 2)
            var expected = [Float](repeating: 0, count: batch * weight.rows), actual = expected
            Matmul.reference(weight, input: input, batch: batch, output: &expected)
            Matmul.multiply(weight, input: input, batch: batch, output: &actual, pool: pool, workspace: workspace)
            let bound = try toleranceBound(weight, input: input, batch: batch)
            let failures = (0..<expected.count).filter { !(abs(actual[$0] - expected[$0]) <= bound[$0]) }.count
            #expect(failures == 0, "\(name) batch \(batch): \(failures) outputs outside the bound")
        }
    }

    /// A sequence's outputs are the same bits whether it runs alone or in a batch of any size.
    @Test func outputsDoNotDependOnTheRestOfTheBatch() throws {
        let path = try #require(Self.modelPath, "run Scripts/fetch-model.sh or set KILN_DEFAULT_MODEL")
        let file = try GGUFFile(path: path)
        let weight = try Self.matrix("blk.3.ffn_up.weight", in: file)
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace(maxBatch: 70, maxColumns: weight.columns)
        var rng = SeededGenerator(seed: 7)
        let batch = 70
        let input = rng.floats(batch * weight.columns)
        var together = [Float](repeating: 0, count: batch * weight.rows)
        Matmul.multiply(weight, input: input, batch: batch, output: &together, pool: pool, workspace: workspace)
        for row in [0, 3, 4, 63, 64, 69] {
            var alone = [Float](repeating: 0, count: weight.rows)
            input.withUnsafeBufferPointer { all in
                Matmul.multiply(
                    weight, input: all.baseAddress! + row * weight.columns, batch: 1, output: &alone,
                    pool: pool, workspace: workspace)
            }
            #expect(Array(together[row * weight.rows..<(row + 1) * weight.rows]) == alone, "row \(row)")
        }
    }
}
