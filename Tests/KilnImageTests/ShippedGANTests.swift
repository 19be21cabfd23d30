import Foundation
import KilnFormats
import KilnImage
import Testing

/// The trained GAN Kiln ships (Models/kiln-shapes-gan) against PyTorch: for a caption seen in
/// training and a held-out one, the image Kiln draws from the seed equals PyTorch's from the same
/// latent (`seeded_noise.py`) within 1e-4 in [0, 1] (Tests/Fixtures/gan/trained-reference.*, made by
/// `Scripts/gan/make-gan-fixtures.py --trained Models/kiln-shapes-gan`).
@Suite struct ShippedGANTests {
    static let modelDirectory = ShippedImageModelTests.repository.appendingPathComponent("Models/kiln-shapes-gan").path
    static let meta: [String: Any] = try! GANReferenceTests.fixture.json("trained-reference.json")

    @Test func weightsAreTheOnesTheReferenceWasMadeWith() throws {
        try ShippedImageModelTests.expectWeights(of: Self.modelDirectory, meta: Self.meta, script: "make-gan-fixtures.py --trained")
    }

    @Test func imagesMatchPyTorch() throws {
        let pipeline = try GANPipeline(directory: Self.modelDirectory)
        let reference = try SafetensorsFile(path: GANReferenceTests.fixture.directory.appendingPathComponent("trained-reference.safetensors").path)
        let captions = Self.meta["captions"] as! [String]
        let seeds = (Self.meta["seeds"] as! [Int]).map(UInt64.init)
        let images = try pipeline.generate(prompts: captions, seeds: seeds)
        let (expected, shape) = DiffusionFixtures.tensor("images", in: reference)
        #expect(shape == [2, 3, 32, 32])
        let size = 3 * 32 * 32
        for (index, image) in images.enumerated() {
            let want = Array(expected[index * size..<(index + 1) * size])
            let error = DiffusionFixtures.maxAbsDifference(image.pixels, want)
            print("kiln-shapes-gan '\(captions[index])' seed \(seeds[index]): max-abs error \(error) against PyTorch")
            #expect(error < 1e-4)
            // A trained image is not flat: the shape stands out from its background.
            #expect((want.max() ?? 0) - (want.min() ?? 0) > 0.3)
        }
    }
}
