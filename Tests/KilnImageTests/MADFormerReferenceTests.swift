import Foundation
import KilnFormats
import KilnImage
import Testing

/// Kiln's hybrid (MADFormer) pipeline against PyTorch on a tiny random-weight
/// kiln-shapes-madformer folder (Tests/Fixtures/madformer, made by
/// `Scripts/madformer/make-madformer-fixtures.py`: width 32, 2 autoregressive layers and 1
/// diffusion layer, 3 DDIM steps per band, guidance 3): the seeds' noise exactly; every band's
/// conditioning z of the caption streams and the first step's v of all four streams (the two
/// captions, then the two empty captions) within 1e-4 (max abs); the two finished images, stepped
/// together in one batch, within 1e-3 (max abs).
@Suite struct MADFormerReferenceTests {
    static let fixture = ReferenceFixture("madformer")
    static var folder: String { fixture.path("tiny-madformer") }
    static var captions: [String] { fixture.captions }
    static var seeds: [UInt64] { fixture.seeds }
    static var steps: Int { fixture.meta["steps"] as! Int }
    static var guidance: Double { fixture.meta["guidance"] as! Double }

    static func rows(_ name: String, count: Int) -> [[Float]] { fixture.rows(name, count: count) }

    static func request(_ index: Int) -> ImageRequest {
        ImageRequest(prompt: captions[index], steps: steps, guidanceScale: guidance, sampler: .ddim, seed: seeds[index])
    }

    @Test func conditionsPredictionsAndImagesMatchPyTorch() throws {
        let pipeline = try MADFormerPipeline(directory: Self.folder)
        let model = pipeline.model
        #expect(model.blockCount == 4 && model.tokensPerBlock == 16 && model.arLayerCount == 2 && model.diffusionLayerCount == 1)
        let generations = try (0..<2).map { try pipeline.prepare(Self.request($0)) }
        for (index, generation) in generations.enumerated() {
            #expect(generation.noise == Self.rows("noise", count: 2)[index], "seed \(Self.seeds[index])")
            #expect(generation.streamCount == 2 && generation.stepCount == 4 * Self.steps)
        }
        let conditions = Self.rows("conditions", count: 2 * 4)  // [image · 4 + band]
        let predictions = Self.rows("first_step_v", count: 4 * 4)  // [stream · 4 + band]: captions, then empty captions
        var worstCondition: Float = 0, worstPrediction: Float = 0
        while !generations.allSatisfy(\.isFinished) {
            let band = generations[0].blockIndex, firstStep = generations[0].blockStep == 0
            try pipeline.step(generations)
            guard firstStep else { continue }
            for (image, generation) in generations.enumerated() {
                worstCondition = max(
                    worstCondition, DiffusionFixtures.maxAbsDifference(generation.condition(stream: 0), conditions[image * 4 + band]))
                for stream in 0..<2 {
                    let expected = predictions[(stream * 2 + image) * 4 + band]
                    worstPrediction = max(worstPrediction, DiffusionFixtures.maxAbsDifference(generation.prediction(stream: stream), expected))
                }
            }
        }
        print("tiny MADFormer: z max-abs error \(worstCondition), first-step v \(worstPrediction)")
        #expect(worstCondition < 1e-4)
        #expect(worstPrediction < 1e-4)
        let images = Self.rows("images", count: 2)
        for (index, generation) in generations.enumerated() {
            let error = DiffusionFixtures.maxAbsDifference(generation.image, images[index])
            print("tiny MADFormer '\(Self.captions[index])': image max-abs error \(error) against PyTorch")
            #expect(error < 1e-3)
            let decoded = try pipeline.decode(generation)
            #expect(decoded.width == 32 && decoded.height == 32 && decoded.pixels.allSatisfy { (0...1).contains($0) })
        }
        #expect(DiffusionFixtures.maxAbsDifference(images[0], images[1]) > 0.1)
    }

    /// Scheduler-style stepping: two generations a step apart share every `stepGenerations` call
    /// (so they are at different bands and steps in one call), each gives the image it gives alone,
    /// and previews show finished bands arriving top to bottom.
    @Test func steppedTogetherEqualsAlone() throws {
        let pipeline = try MADFormerPipeline(directory: Self.folder)
        let alone = try (0..<2).map { index -> [Float] in
            let generation = try pipeline.prepare(Self.request(index))
            while !generation.isFinished { try pipeline.stepGenerations([generation]) }
            return try pipeline.image(of: generation).pixels
        }
        let first = try pipeline.startGeneration(Self.request(0)), second = try pipeline.startGeneration(Self.request(1))
        try pipeline.stepGenerations([first])
        var greyRows: [Int] = []
        while !second.isFinished {
            try pipeline.stepGenerations([first, second].filter { !$0.isFinished })
            if second.stepIndex % Self.steps == 0 && !second.isFinished {
                greyRows.append(Self.greyRows(try pipeline.previewImage(of: second)))
            }
        }
        #expect(try pipeline.image(of: first).pixels == alone[0])
        #expect(try pipeline.image(of: second).pixels == alone[1])
        #expect(greyRows == [24, 16, 8], "previews after each band: \(greyRows) mid-grey rows")
    }

    /// Rows of the image that are all mid-grey (not made yet).
    static func greyRows(_ image: GeneratedImage) -> Int {
        (0..<image.height).filter { row in
            (0..<3).allSatisfy { channel in
                (0..<image.width).allSatisfy { image.pixels[(channel * image.height + row) * image.width + $0] == 0.5 }
            }
        }.count
    }

    /// Without guidance one stream runs; alone (its kernels on the whole pool) or beside a guided
    /// generation (each stream's kernels on one thread) it gives the same image.
    @Test func unguidedRunsOneStream() throws {
        let pipeline = try MADFormerPipeline(directory: Self.folder)
        let generation = try pipeline.prepare(ImageRequest(prompt: "a red circle", steps: 2, guidanceScale: 1, seed: 3))
        #expect(generation.streamCount == 1 && generation.stepCount == 8)
        let image = try pipeline.generate(prompts: ["a red circle"], seeds: [3], steps: 2, guidanceScale: 1)[0]
        let guided = try pipeline.prepare(ImageRequest(prompt: "a blue star", steps: 2, guidanceScale: 2, seed: 4))
        while !generation.isFinished { try pipeline.step([generation, guided]) }
        #expect(try pipeline.decode(generation).pixels == image.pixels)
    }
}
