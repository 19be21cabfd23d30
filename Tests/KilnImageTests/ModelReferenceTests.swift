import Foundation
import KilnImage
import KilnTokenizer
import Testing

/// The tokenizer, text encoder, UNet and VAE of the tiny pipeline against diffusers' outputs.
@Suite struct ModelReferenceTests {
    static let pipeline: ImagePipeline = try! ImagePipeline(directory: DiffusionFixtures.pipelineDirectory)

    @Test func tokenizerMatchesTransformers() throws {
        let cases = DiffusionFixtures.meta["tokenizer_cases"] as! [[String: Any]]
        #expect(cases.count >= 10)
        for entry in cases {
            let text = entry["text"] as! String
            #expect(Self.pipeline.tokenizer.encode(text) == entry["ids"] as! [Int], "\(text)")
        }
    }

    /// The same vocabulary read from tokenizer.json alone gives the same ids.
    @Test func tokenizerReadsTokenizerJSON() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(
                at: DiffusionFixtures.directory.appendingPathComponent("tiny-sd/tokenizer/\(name)"),
                to: directory.appendingPathComponent(name))
        }
        let tokenizer = try CLIPTokenizer(directory: directory.path)
        for entry in DiffusionFixtures.meta["tokenizer_cases"] as! [[String: Any]] {
            #expect(tokenizer.encode(entry["text"] as! String) == entry["ids"] as! [Int])
        }
    }

    @Test func textEncoderMatchesTransformers() throws {
        let meta = DiffusionFixtures.meta
        let prompt = try Self.pipeline.encode(prompt: meta["prompt"] as! String)
        let negative = try Self.pipeline.encode(prompt: meta["negative_prompt"] as! String)
        let skipped = try Self.pipeline.encode(prompt: meta["prompt"] as! String, clipSkip: 1)
        let errors = [
            DiffusionFixtures.maxAbsDifference(prompt, DiffusionFixtures.tensor("prompt_embeds").values),
            DiffusionFixtures.maxAbsDifference(negative, DiffusionFixtures.tensor("negative_embeds").values),
            DiffusionFixtures.maxAbsDifference(skipped, DiffusionFixtures.tensor("prompt_embeds_clip_skip_1").values),
        ]
        print("text encoder max-abs errors (prompt, negative, clip_skip 1):", errors)
        #expect(errors.allSatisfy { $0 < 1e-4 }, "\(errors)")
    }

    @Test(arguments: [("unet_output_t981", 981.0), ("unet_output_t0_5", 0.5)])
    func unetStepMatchesDiffusers(fixture: (String, Double)) throws {
        let input = DiffusionFixtures.tensor("unet_input")
        let expected = DiffusionFixtures.tensor(fixture.0).values
        let contexts = [DiffusionFixtures.tensor("negative_embeds").values, DiffusionFixtures.tensor("prompt_embeds").values]
        let (channels, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let size = channels * height * width
        let batch = (0..<2).map {
            FeatureMap(values: Array(input.values[($0 * size)..<(($0 + 1) * size)]), channels: channels, height: height, width: width)
        }
        let outputs = try #require(Self.pipeline.unet).predict(batch: batch, timestep: fixture.1, contexts: contexts, contextTokens: 77)
        let error = DiffusionFixtures.maxAbsDifference(outputs.flatMap(\.values), expected)
        print("UNet \(fixture.0) max-abs error \(error) (output max-abs \(DiffusionFixtures.maxAbs(expected)))")
        #expect(error < 1e-4)
    }

    @Test func vaeDecoderMatchesDiffusers() throws {
        let input = DiffusionFixtures.tensor("vae_input")
        let expected = DiffusionFixtures.tensor("vae_output")
        let map = FeatureMap(values: input.values, channels: input.shape[1], height: input.shape[2], width: input.shape[3])
        let decoded = try #require(Self.pipeline.vae).decode(map)
        #expect([1, decoded.channels, decoded.height, decoded.width] == expected.shape)
        let error = DiffusionFixtures.maxAbsDifference(decoded.values, expected.values)
        print("VAE decode max-abs error \(error) (output max-abs \(DiffusionFixtures.maxAbs(expected.values)))")
        #expect(error < 1e-3)
    }
}

extension ModelReferenceTests {
    /// 33×33 latents: odd sizes are rounded up by the stride-2 convolution and matched on the way up.
    @Test func unetOddSizeMatchesDiffusers() throws {
        let input = DiffusionFixtures.tensor("unet_input_33")
        let expected = DiffusionFixtures.tensor("unet_output_33_t500").values
        let contexts = [DiffusionFixtures.tensor("negative_embeds").values, DiffusionFixtures.tensor("prompt_embeds").values]
        let size = 4 * 33 * 33
        let batch = (0..<2).map { FeatureMap(values: Array(input.values[($0 * size)..<(($0 + 1) * size)]), channels: 4, height: 33, width: 33) }
        let outputs = try #require(Self.pipeline.unet).predict(batch: batch, timestep: 500, contexts: contexts, contextTokens: 77)
        let error = DiffusionFixtures.maxAbsDifference(outputs.flatMap(\.values), expected)
        print("UNet 33×33 max-abs error \(error)")
        #expect(error < 1e-4)
    }
}
