import Foundation
import KilnImage
import Testing

/// Bad hybrid folders, configs and requests give typed `ImageError`s, never a crash.
@Suite struct MADFormerValidationTests {
    static var folder: String { MADFormerReferenceTests.folder }

    /// A copy of the tiny fixture folder with `transformer/config.json` (or, with `file`, another
    /// JSON file of the folder) rewritten by `edit`, loaded.
    func loadEdited(_ file: String = "transformer/config.json", _ edit: (inout [String: Any]) -> Void) throws -> MADFormerPipeline {
        let source = URL(fileURLWithPath: Self.folder)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-madformer-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let path = copy.appendingPathComponent(file)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: path)
        return try MADFormerPipeline(directory: copy.path)
    }

    @Test func unchangedCopyLoads() throws {
        #expect(try loadEdited { _ in }.model.arLayerCount == 2)
    }

    @Test(arguments: [
        ("width", 64 as Any),  // the weights are 32 wide
        ("heads", 3 as Any),  // 32 does not split into 3 heads
        ("patch_size", 2 as Any),  // the weights are 4×4 patches
        ("block_rows", 6 as Any),  // not a multiple of the patch size
        ("sample_size", 64 as Any),  // the start tokens are 16, not 32, per band
        ("ar_layers", 1 as Any),  // the weights hold 2
        ("ar_layers", 3 as Any),
        ("diffusion_layers", 2 as Any),  // the weights hold 1
        ("caption_channels", 24 as Any),  // the text encoder gives 16
        ("_class_name", "PixArtTransformer2DModel" as Any),
        ("width", "wide" as Any),
    ])
    func rejectsMismatchedConfig(edit: (String, Any)) {
        #expect(throws: ImageError.self) { try loadEdited { $0[edit.0] = edit.1 } }
    }

    @Test func rejectsOtherPipelinesAndMissingFolders() {
        #expect(throws: ImageError.self) { try loadEdited("model_index.json") { $0["_class_name"] = "KilnShapesGAN" } }
        #expect(throws: ImageError.self) { try loadEdited("model_index.json") { $0.removeValue(forKey: "_class_name") } }
        #expect(throws: ImageError.self) { try MADFormerPipeline(directory: "/nonexistent/kiln-madformer") }
        // A DiT or GAN folder is not a hybrid.
        #expect(throws: ImageError.self) { try MADFormerPipeline(directory: GANReferenceTests.folder) }
    }

    @Test func rejectsBadRequests() throws {
        let pipeline = try MADFormerPipeline(directory: Self.folder)
        let bad = [
            ImageRequest(prompt: "a", width: 64, height: 64, steps: 2),
            ImageRequest(prompt: "a", steps: 0),
            ImageRequest(prompt: "a", steps: 2, guidanceScale: .nan),
            ImageRequest(prompt: "a", negativePrompt: "blue", steps: 2),
            ImageRequest(prompt: "a", steps: 2, initialLatents: [0, 1]),
        ]
        for request in bad {
            #expect(throws: ImageError.self) { try pipeline.prepare(request) }
        }
        let generation = try pipeline.prepare(ImageRequest(prompt: "a red circle", steps: 1, guidanceScale: 1))
        #expect(throws: ImageError.self) { try pipeline.decode(generation) }
        #expect(throws: ImageError.self) { try pipeline.step([generation, generation]) }
        while !generation.isFinished { try pipeline.step([generation]) }
        #expect(throws: ImageError.self) { try pipeline.step([generation]) }
        // A GAN's generation is not the hybrid's to step.
        let gan = try GANPipeline(directory: GANReferenceTests.folder)
        #expect(throws: ImageError.self) { try pipeline.stepGenerations([try gan.startGeneration(ImageRequest(prompt: "a", steps: 1))]) }
    }
}
