import Foundation
import KilnImage
import Testing

/// The step-wise API a scheduler drives: batched steps of several generations give each exactly
/// what it gets alone, and the `Denoiser` protocol takes one timestep and context per sample.
@Suite struct StepwisePipelineTests {
    static var pipeline: ImagePipeline { ModelReferenceTests.pipeline }

    @Test func batchedStepsGiveEachGenerationItsImageAlone() throws {
        let pipeline = Self.pipeline
        // Different samplers, seeds, guidance (one without: a single denoiser sample) and prompts.
        let requests = [
            ImageRequest(
                prompt: "a red cube", negativePrompt: "blurry", width: 64, height: 64, steps: 4,
                guidanceScale: 7.5, sampler: .eulerAncestral, seed: 11),
            ImageRequest(
                prompt: "a blue sphere", width: 64, height: 64, steps: 4, guidanceScale: 1,
                sampler: .dpmSolverPlusPlus2M, spacing: .karras, seed: 12),
            ImageRequest(
                prompt: "a green cone", width: 64, height: 64, steps: 4, guidanceScale: 3,
                sampler: .ddim, seed: 13),
        ]
        let alone = try requests.map { try pipeline.generate($0) }
        let generations = try requests.map { try pipeline.prepare($0) }
        #expect(generations.map(\.samplesPerStep) == [2, 1, 2])
        #expect(Set(generations.map(\.batchKey)).count == 1)
        while !generations[0].isFinished {
            try pipeline.step(generations)
        }
        #expect(generations.allSatisfy { $0.isFinished && $0.stepIndex == 4 })
        for (index, generation) in generations.enumerated() {
            let image = try pipeline.decode(generation)
            #expect(image.pixels == alone[index].pixels, "generation \(index) differs when batched")
        }
    }

    @Test func generationsMayJoinABatchAtDifferentSteps() throws {
        let pipeline = Self.pipeline
        let first = ImageRequest(prompt: "early", width: 32, height: 32, steps: 3, sampler: .euler, seed: 1)
        let second = ImageRequest(prompt: "late", width: 32, height: 32, steps: 3, sampler: .dpmSolverPlusPlus2M, seed: 2)
        let expected = try [first, second].map { try pipeline.generate($0).pixels }
        let a = try pipeline.prepare(first), b = try pipeline.prepare(second)
        try pipeline.step([a])  // a at step 1, b not started
        try pipeline.step([a, b])  // each at its own timestep in one call
        try pipeline.step([b, a])
        #expect(a.isFinished && b.stepIndex == 2)
        try pipeline.step([b])
        #expect(try pipeline.decode(a).pixels == expected[0])
        #expect(try pipeline.decode(b).pixels == expected[1])
    }

    @Test func denoiserTakesATimestepAndContextPerSample() throws {
        let pipeline = Self.pipeline
        let unet = try #require(pipeline.unet)
        let context = try pipeline.encode(prompt: "x"), other = try pipeline.encode(prompt: "y")
        let tokens = pipeline.tokenizer.maxLength
        var noise = SeededNoise(seed: 5)
        let sample = FeatureMap(values: noise.gaussians(count: unet.inChannels * 8 * 8), channels: unet.inChannels, height: 8, width: 8)
        let denoiser: Denoiser = unet
        let batched = try denoiser.predict(batch: [sample, sample], timesteps: [999, 20], contexts: [context, other], contextTokens: tokens)
        let first = try unet.predict(sample, timestep: 999, context: context, contextTokens: tokens)
        let second = try unet.predict(sample, timestep: 20, context: other, contextTokens: tokens)
        #expect(batched[0].values == first.values)
        #expect(batched[1].values == second.values)
        #expect(batched[0].values != batched[1].values)
        #expect(throws: ImageError.self) {
            _ = try denoiser.predict(batch: [sample], timesteps: [1, 2], contexts: [context], contextTokens: tokens)
        }
    }

    @Test func stepRefusesGenerationsThatCannotShareACall() throws {
        let pipeline = Self.pipeline
        let small = try pipeline.prepare(ImageRequest(prompt: "a", width: 32, height: 32, steps: 2))
        let large = try pipeline.prepare(ImageRequest(prompt: "b", width: 64, height: 64, steps: 2))
        #expect(throws: ImageError.self) { try pipeline.step([small, large]) }
        #expect(throws: ImageError.self) { try pipeline.step([small, small]) }
        #expect(small.stepIndex == 0 && large.stepIndex == 0, "a refused step moves nothing")
        try pipeline.step([small])
        try pipeline.step([small])
        #expect(throws: ImageError.self) { try pipeline.step([small]) }
        try pipeline.step([])
    }

    @Test func previewIsLatentSizedAndInRange() throws {
        let pipeline = Self.pipeline
        let generation = try pipeline.prepare(ImageRequest(prompt: "p", width: 64, height: 48, steps: 2, seed: 9))
        let before = pipeline.preview(generation)
        try pipeline.step([generation])
        let after = pipeline.preview(generation)
        #expect(after.width == 64 / pipeline.vaeScale && after.height == 48 / pipeline.vaeScale)
        #expect(after.pixels.count == 3 * after.width * after.height)
        #expect(after.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(after.pixels != before.pixels)
        let png = try after.pngData()
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }
}
