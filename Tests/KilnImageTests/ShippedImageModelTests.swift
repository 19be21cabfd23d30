import Foundation
import KilnFormats
import KilnImage
import Testing

/// The trained image model Kiln ships (Models/kiln-shapes-dit) against PyTorch: from the same
/// initial noise, the image `ImagePipeline` makes with the evaluation's settings (20 DDIM steps,
/// guidance 4, empty negative prompt) equals the PyTorch loop's within 1e-3 in [0, 1], for a caption
/// seen in training and a held-out one (Tests/Fixtures/dit/trained-reference.*, made by
/// `Scripts/dit/make-dit-fixtures.py --trained Models/kiln-shapes-dit`).
@Suite struct ShippedImageModelTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/Fixtures/dit")
    static let modelDirectory = repository.appendingPathComponent("Models/kiln-shapes-dit").path

    static let meta: [String: Any] = try! ReferenceFixture.json(fixtures.appendingPathComponent("trained-reference.json"))

    @Test func weightsAreTheOnesTheReferenceWasMadeWith() throws {
        try Self.expectWeights(of: Self.modelDirectory, meta: Self.meta, script: "make-dit-fixtures.py --trained")
    }

    /// The shipped folder's weight files have the sha256 its trained reference (`meta`'s
    /// "weights_sha256") was made with: a retrained model needs new reference images, and this
    /// says so instead of a vague mismatch.
    static func expectWeights(of directory: String, meta: [String: Any], script: String) throws {
        let hashes = meta["weights_sha256"] as! [String: String]
        #expect(hashes.count == 2)
        for (file, expected) in hashes {
            #expect(try sha256(directory + "/" + file) == expected, "\(file) changed: rerun \(script)")
        }
    }

    /// coreutils' `sha256sum` of a file (Foundation on Linux has no digest API).
    static func sha256(_ path: String) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum", path]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }

    /// A request that names no guidance or sampler gets what diffusers' PixArtAlphaPipeline does with
    /// this folder: guidance 4.5 and the folder's DDIM scheduler. A Stable Diffusion folder keeps 7.5.
    @Test func defaultsAreThePipelinesOwn() throws {
        let pipeline = try ImagePipeline(directory: Self.modelDirectory)
        #expect(pipeline.defaultGuidanceScale == 4.5 && pipeline.defaultSampler == .ddim)
        let stableDiffusion = try ImagePipeline(directory: DiffusionFixtures.pipelineDirectory)
        #expect(stableDiffusion.defaultGuidanceScale == 7.5 && stableDiffusion.defaultSampler == .ddim)
    }

    @Test(arguments: [0, 1]) func imageMatchesPyTorch(index: Int) throws {
        let pipeline = try ImagePipeline(directory: Self.modelDirectory)
        let reference = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("trained-reference.safetensors").path)
        let caption = (Self.meta["captions"] as! [String])[index]
        let request = ImageRequest(
            prompt: caption, negativePrompt: Self.meta["negative_prompt"] as! String,
            steps: Self.meta["steps"] as! Int,
            guidanceScale: Self.meta["guidance_scale"] as! Double, sampler: .ddim,
            initialLatents: DiffusionFixtures.tensor("initial_noise_\(index)", in: reference).values)
        let image = try pipeline.generate(request)
        let expected = DiffusionFixtures.tensor("image_\(index)", in: reference).values
        let error = DiffusionFixtures.maxAbsDifference(image.pixels, expected)
        print("kiln-shapes-dit '\(caption)': max-abs error \(error) against PyTorch")
        #expect(image.width == 32 && image.height == 32)
        #expect(error < 1e-3)
        // A trained image is not flat: the shape stands out from its background.
        #expect((expected.max() ?? 0) - (expected.min() ?? 0) > 0.3)
    }
}
