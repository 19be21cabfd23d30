import Foundation
import KilnFormats
import KilnImage
import Testing

/// Kiln's GAN pipeline against PyTorch on a tiny random-weight kiln-shapes-gan folder
/// (Tests/Fixtures/gan, made by `Scripts/gan/make-gan-fixtures.py`): the tokenizer's ids, the
/// caption's conditioning vector, the latent each seed draws, and three images drawn in one batched
/// call, each within 1e-4 of PyTorch.
@Suite struct GANReferenceTests {
    static let fixture = ReferenceFixture("gan")
    static var folder: String { fixture.path("tiny-gan") }
    static var captions: [String] { fixture.captions }
    static var seeds: [UInt64] { fixture.seeds }

    static func rows(_ name: String) -> [[Float]] { fixture.rows(name) }

    @Test func tokensAndConditionsMatchPyTorch() throws {
        let pipeline = try GANPipeline(directory: Self.folder)
        for (index, caption) in Self.captions.enumerated() {
            #expect(pipeline.tokenizer.encode(caption).map(Float.init) == Self.rows("ids")[index], "\(caption)")
            let error = DiffusionFixtures.maxAbsDifference(try pipeline.condition(prompt: caption), Self.rows("conditions")[index])
            #expect(error < 1e-4, "'\(caption)': condition max-abs error \(error)")
        }
    }

    @Test func seedsDrawPyTorchsLatents() throws {
        let pipeline = try GANPipeline(directory: Self.folder)
        for (index, seed) in Self.seeds.enumerated() {
            let generation = try pipeline.prepare(ImageRequest(prompt: "a", steps: 1, seed: seed))
            #expect(generation.latent == Self.rows("latents")[index], "seed \(seed)")
        }
    }

    /// The three images of one batched step equal PyTorch's batched call, and each drawn alone
    /// equals its batched self (group norm works per image).
    @Test func batchedImagesMatchPyTorch() throws {
        let pipeline = try GANPipeline(directory: Self.folder)
        let generations = try zip(Self.captions, Self.seeds).map {
            try pipeline.prepare(ImageRequest(prompt: $0, steps: 1, seed: $1))
        }
        #expect(generations.allSatisfy { !$0.isFinished && $0.stepCount == 1 })
        try pipeline.step(generations)
        let expected = Self.rows("images")
        for (index, generation) in generations.enumerated() {
            #expect(generation.isFinished)
            let output = try #require(generation.output)
            #expect(output.channels == 3 && output.height == 32 && output.width == 32)
            let error = DiffusionFixtures.maxAbsDifference(output.values, expected[index])
            print("tiny GAN '\(Self.captions[index])': max-abs error \(error) against PyTorch")
            #expect(error < 1e-4)
            let alone = try pipeline.prepare(ImageRequest(prompt: Self.captions[index], steps: 1, seed: Self.seeds[index]))
            try pipeline.step([alone])
            #expect(alone.output?.values == output.values)
            let image = try pipeline.decode(generation)
            #expect(image.pixels.allSatisfy { (0...1).contains($0) } && image.latents == generation.latent)
        }
        // The images differ: the caption and the seed reach the output.
        #expect(DiffusionFixtures.maxAbsDifference(expected[0], expected[1]) > 0.1)
    }

    @Test func badRequestsAreRefused() throws {
        let pipeline = try GANPipeline(directory: Self.folder)
        #expect(throws: ImageError.self) { try pipeline.prepare(ImageRequest(prompt: "a", width: 64, height: 64, steps: 1)) }
        #expect(throws: ImageError.self) { try pipeline.prepare(ImageRequest(prompt: "a", steps: 1, initialLatents: [0, 1])) }
        let generation = try pipeline.prepare(ImageRequest(prompt: "a red circle", steps: 1))
        #expect(throws: ImageError.self) { try pipeline.decode(generation) }
        #expect(throws: ImageError.self) { try pipeline.step([generation, generation]) }
        try pipeline.step([generation])
        #expect(throws: ImageError.self) { try pipeline.step([generation]) }
        // A diffusion generation is not the GAN's to step.
        let diffusion = try ImagePipeline(directory: DiffusionFixtures.pipelineDirectory)
        let other = try diffusion.prepare(ImageRequest(prompt: "a", width: 64, height: 64, steps: 2))
        #expect(throws: ImageError.self) { try pipeline.stepGenerations([other]) }
    }
}
