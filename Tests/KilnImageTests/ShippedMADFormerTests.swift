import Foundation
import KilnFormats
import KilnImage
import Testing

/// The trained hybrid Kiln ships (Models/kiln-shapes-madformer) against PyTorch: for a caption seen
/// in training and a held-out one, the image Kiln draws from the seed (10 DDIM steps per band,
/// guidance 4, both stepped together) equals PyTorch's from the same noise (`seeded_noise.py`)
/// within 1e-3 in [0, 1] (Tests/Fixtures/madformer/trained-reference.*, made by
/// `Scripts/madformer/make-madformer-fixtures.py --trained Models/kiln-shapes-madformer`).
@Suite struct ShippedMADFormerTests {
    static let modelDirectory = ShippedImageModelTests.repository.appendingPathComponent("Models/kiln-shapes-madformer").path
    static let fixture = MADFormerReferenceTests.fixture

    @Test func weightsAreTheOnesTheReferenceWasMadeWith() throws {
        try ShippedImageModelTests.expectWeights(
            of: Self.modelDirectory, meta: Self.fixture.json("trained-reference.json"), script: "make-madformer-fixtures.py --trained")
    }

    @Test func imagesMatchPyTorch() throws {
        let pipeline = try MADFormerPipeline(directory: Self.modelDirectory)
        let meta = try Self.fixture.json("trained-reference.json")
        let reference = try SafetensorsFile(path: Self.fixture.path("trained-reference.safetensors"))
        let captions = meta["captions"] as! [String]
        let seeds = (meta["seeds"] as! [Int]).map(UInt64.init)
        let images = try pipeline.generate(
            prompts: captions, seeds: seeds, steps: meta["steps"] as! Int, guidanceScale: meta["guidance"] as! Double)
        let (expected, shape) = DiffusionFixtures.tensor("images", in: reference)  // [-1, 1]
        #expect(shape == [2, 3, 32, 32])
        let size = 3 * 32 * 32
        for (index, image) in images.enumerated() {
            let want = expected[index * size..<(index + 1) * size].map { min(max($0 / 2 + 0.5, 0), 1) }
            let error = DiffusionFixtures.maxAbsDifference(image.pixels, want)
            print("kiln-shapes-madformer '\(captions[index])' seed \(seeds[index]): max-abs error \(error) against PyTorch")
            #expect(error < 1e-3)
            // A trained image is not flat: the shape stands out from its background.
            #expect((want.max() ?? 0) - (want.min() ?? 0) > 0.3)
        }
    }
}
