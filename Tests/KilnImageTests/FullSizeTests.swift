import Foundation
import KilnFormats
import KilnImage
import Testing

/// The same code on an SD-1.5-shaped pipeline (random weights, about 2 GB, made by
/// `make-diffusion-fixtures.py --full-size DIR`, never committed). Runs only when KILN_SD15_DIR
/// names that DIR; skipped otherwise.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["KILN_SD15_DIR"] != nil, "set KILN_SD15_DIR to run"))
struct FullSizeTests {
    static var directory: String { ProcessInfo.processInfo.environment["KILN_SD15_DIR"] ?? "" }

    static func tensor(_ file: SafetensorsFile, _ name: String) -> [Float] {
        let info = file.tensor(named: name)!
        let bytes = file.data(of: info)
        return (0..<info.elementCount).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    @Test func sd15ShapedComponentsMatchDiffusers() throws {
        let reference = try SafetensorsFile(path: Self.directory + "/reference.safetensors")
        let pipeline = try ImagePipeline(directory: Self.directory + "/pipeline")
        let meta = DiffusionFixtures.meta
        let prompt = try pipeline.encode(prompt: meta["prompt"] as! String)
        let negative = try pipeline.encode(prompt: meta["negative_prompt"] as! String)
        let textError = max(
            DiffusionFixtures.maxAbsDifference(prompt, Self.tensor(reference, "prompt_embeds")),
            DiffusionFixtures.maxAbsDifference(negative, Self.tensor(reference, "negative_embeds")))

        let input = Self.tensor(reference, "unet_input")
        let size = input.count / 2
        let batch = (0..<2).map { FeatureMap(values: Array(input[($0 * size)..<(($0 + 1) * size)]), channels: 4, height: 16, width: 16) }
        let started = Date()
        let outputs = try #require(pipeline.unet).predict(batch: batch, timestep: 501, contexts: [negative, prompt], contextTokens: 77)
        let unetSeconds = Date().timeIntervalSince(started)
        let expected = Self.tensor(reference, "unet_output_t501")
        let unetError = DiffusionFixtures.maxAbsDifference(outputs.flatMap(\.values), expected)

        let decoded = try #require(pipeline.vae).decode(batch[0])
        let vaeExpected = Self.tensor(reference, "vae_output")
        let vaeError = DiffusionFixtures.maxAbsDifference(decoded.values, vaeExpected)
        print(
            "SD-1.5-shaped: text max-abs \(textError), UNet (batch 2, 16×16 latents) max-abs \(unetError) of \(DiffusionFixtures.maxAbs(expected)) in \(String(format: "%.1f", unetSeconds)) s, VAE 128 px max-abs \(vaeError) of \(DiffusionFixtures.maxAbs(vaeExpected))"
        )
        #expect(textError < 1e-3)
        #expect(unetError < 1e-3 * max(1, DiffusionFixtures.maxAbs(expected)))
        #expect(vaeError < 1e-3 * max(1, DiffusionFixtures.maxAbs(vaeExpected)))
    }
}
