import Foundation
import KilnImage
import KilnLayers
import Testing

/// Bad inputs and bad folders give typed errors, never a crash.
@Suite struct DiTValidationTests {
    static var transformer: PixArtTransformer2DModel { DiTReferenceTests.transformer }
    static let context = [Float](repeating: 0.1, count: 32 * 32)

    @Test func rejectsBadInputs() {
        let model = Self.transformer
        let good = FeatureMap(zeros: 3, height: 32, width: 32)
        #expect(throws: ImageError.self) {  // wrong channel count
            try model.predict(FeatureMap(zeros: 4, height: 32, width: 32), timestep: 10, context: Self.context, contextTokens: 32)
        }
        #expect(throws: ImageError.self) {  // not a multiple of the patch size
            try model.predict(FeatureMap(zeros: 3, height: 30, width: 32), timestep: 10, context: Self.context, contextTokens: 32)
        }
        #expect(throws: ImageError.self) {  // context of the wrong size
            try model.predict(good, timestep: 10, context: Self.context, contextTokens: 31)
        }
        #expect(throws: ImageError.self) {
            try model.predict(good, timestep: .nan, context: Self.context, contextTokens: 32)
        }
        #expect(throws: ImageError.self) {  // counts differ
            try model.predict(batch: [good, good], timesteps: [1], contexts: [Self.context, Self.context], contextTokens: 32)
        }
    }

    /// A copy of the fixture's transformer folder with config.json rewritten by `edit`.
    func loadEdited(_ edit: (inout [String: Any]) -> Void) throws -> PixArtTransformer2DModel {
        let source = URL(fileURLWithPath: DiTReferenceTests.pipelineDirectory).appendingPathComponent("transformer")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-dit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("diffusion_pytorch_model.safetensors"),
            to: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        return try PixArtTransformer2DModel(directory: folder.path, kernels: DiffusionFixtures.kernels)
    }

    @Test func unchangedCopyLoads() throws {
        #expect(try loadEdited { _ in }.blockCount == 2)
    }

    @Test(arguments: [
        ("norm_type", "ada_norm_zero" as Any),
        ("use_additional_conditions", true as Any),
        ("num_attention_heads", 3 as Any),  // width 48 ≠ the weights' 32
        ("patch_size", 2 as Any),  // the weights are 4×4 patches
        ("num_layers", 1 as Any),  // the weights hold 2 blocks
        ("activation_fn", "geglu" as Any),
    ])
    func rejectsMismatchedConfig(edit: (String, Any)) {
        #expect { try loadEdited { $0[edit.0] = edit.1 } } throws: { Self.isLoadingError($0) }
    }

    @Test func missingFolderIsAnError() {
        #expect { try PixArtTransformer2DModel(directory: "/nonexistent/kiln-dit", kernels: DiffusionFixtures.kernels) } throws: {
            Self.isLoadingError($0)
        }
    }

    /// A typed loading error: the DiT's own checks throw `ImageError`, the shared config and
    /// weight readers (KilnLayers) `LayerError`.
    static func isLoadingError(_ error: any Error) -> Bool { error is ImageError || error is LayerError }
}
