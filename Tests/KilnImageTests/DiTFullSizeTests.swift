import Foundation
import KilnFormats
import KilnImage
import Testing

/// kiln-shapes-dit's exact architecture at full size (random weights made by
/// `make-dit-fixtures.py --full-size DIR`, never committed): equality with PyTorch, and the time of
/// a 20-step guided 32×32 generation's transformer calls, printed (benchmarks are never asserted).
/// Runs only when KILN_DIT_FULL_DIR names that DIR.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KILN_DIT_FULL_DIR"] != nil, "set KILN_DIT_FULL_DIR to run"))
struct DiTFullSizeTests {
    static var directory: String { ProcessInfo.processInfo.environment["KILN_DIT_FULL_DIR"] ?? "" }

    @Test func fullSizeTransformerMatchesDiffusersAndIsTimed() throws {
        let reference = try SafetensorsFile(path: Self.directory + "/reference.safetensors")
        let transformer = try PixArtTransformer2DModel(
            directory: Self.directory + "/pipeline/transformer",
            kernels: DiffusionFixtures.kernels)
        let context = DiffusionFixtures.tensor("context", in: reference).values
        let contexts = [Array(context[..<(context.count / 2)]), Array(context[(context.count / 2)...])]
        let input = DiffusionFixtures.tensor("transformer_input", in: reference).values
        let batch = (0..<2).map { FeatureMap(values: Array(input[($0 * 3072)..<(($0 + 1) * 3072)]), channels: 3, height: 32, width: 32) }
        let outputs = try transformer.predict(batch: batch, timesteps: [951, 951], contexts: contexts, contextTokens: 32)
        let expected = DiffusionFixtures.tensor("transformer_output", in: reference).values
        let error = DiffusionFixtures.maxAbsDifference(outputs.flatMap(\.values), expected)
        #expect(error < 1e-3)

        let steps = 20
        let started = Date()
        for step in 0..<steps {
            _ = try transformer.predict(
                batch: batch, timesteps: [Double(999 - 50 * step), Double(999 - 50 * step)],
                contexts: contexts, contextTokens: 32)
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "kiln-shapes-dit-shaped transformer: max-abs \(error) of \(DiffusionFixtures.maxAbs(expected)); \(steps) guided steps (batch 2) in \(String(format: "%.3f", seconds)) s"
        )
    }
}
