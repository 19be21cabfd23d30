import Foundation
import KilnFormats
import KilnImage
import KilnTokenizer
import Testing

/// Kiln's diffusion transformer (PixArtTransformer2DModel) and the small CLIP of the DiT pipeline
/// against PyTorch (Tests/Fixtures/dit, made by Scripts/dit/make-dit-fixtures.py).
@Suite struct DiTReferenceTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/dit")
    static var pipelineDirectory: String { directory.appendingPathComponent("tiny-dit").path }
    static let reference: SafetensorsFile = try! SafetensorsFile(path: directory.appendingPathComponent("reference.safetensors").path)
    static let meta: [String: Any] = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("reference.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()
    static let transformer: PixArtTransformer2DModel = try! PixArtTransformer2DModel(
        directory: pipelineDirectory + "/transformer", kernels: DiffusionFixtures.kernels)
    static let tokenizer: CLIPTokenizer = try! CLIPTokenizer(directory: pipelineDirectory + "/tokenizer")
    static let textEncoder: CLIPTextEncoder = try! CLIPTextEncoder(
        directory: pipelineDirectory + "/text_encoder", kernels: DiffusionFixtures.kernels)

    static func tensor(_ name: String) -> (values: [Float], shape: [Int]) {
        DiffusionFixtures.tensor(name, in: reference)
    }

    /// Sample `index` of a stored [n, c, h, w] tensor as a feature map.
    static func map(_ name: String, index: Int = 0) -> FeatureMap {
        let stored = tensor(name)
        let (channels, height, width) = (stored.shape[1], stored.shape[2], stored.shape[3])
        let size = channels * height * width
        return FeatureMap(values: Array(stored.values[(index * size)..<((index + 1) * size)]), channels: channels, height: height, width: width)
    }

    @Test func configIsRead() {
        let model = Self.transformer
        #expect(model.inChannels == 3 && model.outChannels == 3 && model.patchSize == 4)
        #expect(model.width == 32 && model.heads == 2 && model.blockCount == 2)
        #expect(model.contextWidth == 32 && model.sampleSize == 32)
        #expect(Self.tokenizer.maxLength == 32)
    }

    @Test func tokenizerMatchesTransformers() {
        let cases = Self.meta["tokenizer_cases"] as! [[String: Any]]
        #expect(cases.count >= 5)
        for entry in cases {
            let text = entry["text"] as! String
            #expect(Self.tokenizer.encode(text) == entry["ids"] as! [Int], "\(text)")
        }
    }

    @Test func textEncoderMatchesTransformers() throws {
        let prompt = try Self.textEncoder.encode(Self.tokenizer.encode(Self.meta["prompt"] as! String))
        let negative = try Self.textEncoder.encode(Self.tokenizer.encode(Self.meta["negative_prompt"] as! String))
        let errors = [
            DiffusionFixtures.maxAbsDifference(prompt, Self.tensor("prompt_embeds").values),
            DiffusionFixtures.maxAbsDifference(negative, Self.tensor("negative_embeds").values),
        ]
        print("DiT text encoder max-abs errors (prompt, negative):", errors)
        #expect(errors.allSatisfy { $0 < 1e-4 }, "\(errors)")
    }

    /// One guided batch [negative, prompt] at two different timesteps, as PyTorch ran it.
    @Test func transformerMatchesDiffusers() throws {
        let timesteps = Self.meta["transformer_timesteps"] as! [Double]
        let contexts = [Self.tensor("negative_embeds").values, Self.tensor("prompt_embeds").values]
        let batch = [Self.map("transformer_input", index: 0), Self.map("transformer_input", index: 1)]
        let outputs = try Self.transformer.predict(batch: batch, timesteps: timesteps, contexts: contexts, contextTokens: 32)
        let expected = Self.tensor("transformer_output").values
        let error = DiffusionFixtures.maxAbsDifference(outputs.flatMap(\.values), expected)
        print("DiT transformer max-abs error \(error) (output max-abs \(DiffusionFixtures.maxAbs(expected)))")
        #expect(error < 1e-4)
        #expect(DiffusionFixtures.maxAbs(expected) > 0.1, "the reference must not be trivially small")
    }

    /// A 16×24 input: a non-square 4×6 patch grid whose positions are computed, not cached.
    @Test func transformerMatchesDiffusersAtOtherSize() throws {
        let output = try Self.transformer.predict(
            Self.map("transformer_input_16x24"), timestep: Self.meta["timestep_16x24"] as! Double,
            context: Self.tensor("prompt_embeds").values, contextTokens: 32)
        #expect(output.height == 16 && output.width == 24 && output.channels == 3)
        let error = DiffusionFixtures.maxAbsDifference(output.values, Self.tensor("transformer_output_16x24").values)
        print("DiT transformer 16×24 max-abs error \(error)")
        #expect(error < 1e-4)
    }

    /// Each sample's result is the same alone as in a batch (bit for bit).
    @Test func batchMembersAreIndependent() throws {
        let contexts = [Self.tensor("negative_embeds").values, Self.tensor("prompt_embeds").values]
        let batch = [Self.map("transformer_input", index: 0), Self.map("transformer_input", index: 1)]
        let together = try Self.transformer.predict(batch: batch, timesteps: [700, 20], contexts: contexts, contextTokens: 32)
        let alone = try Self.transformer.predict(batch[1], timestep: 20, context: contexts[1], contextTokens: 32)
        #expect(together[1].values == alone.values)
    }

    /// Tokenizer → text encoder → 10 DDIM steps with guidance 4.5 → image, from PyTorch's initial
    /// noise, against the PyTorch loop. Tolerance 1e-3 on the image in [0, 1].
    @Test func ddimGenerationMatchesPyTorch() throws {
        let schedule = try NoiseSchedule(
            trainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02, betaSchedule: .linear,
            predictionType: .epsilon, timestepSpacing: .leading, stepsOffset: 1, setAlphaToOne: false)
        var sampler = try DiffusionSampler(kind: .ddim, spacing: .default, schedule: schedule, steps: Self.meta["steps"] as! Int)
        #expect(sampler.timesteps.map { Int($0) } == Self.meta["ddim_timesteps"] as! [Int])
        let contexts = [
            try Self.textEncoder.encode(Self.tokenizer.encode(Self.meta["negative_prompt"] as! String)),
            try Self.textEncoder.encode(Self.tokenizer.encode(Self.meta["prompt"] as! String)),
        ]
        let guidance = Float(Self.meta["guidance_scale"] as! Double)
        var sample = Self.tensor("initial_noise").values.map { $0 * Float(sampler.initialNoiseScale) }
        for step in 0..<sampler.stepCount {
            let scale = sampler.modelInputScale(step: step)
            let input = FeatureMap(values: sample.map { $0 * scale }, channels: 3, height: 32, width: 32)
            let t = sampler.timesteps[step]
            let outputs = try Self.transformer.predict(batch: [input, input], timesteps: [t, t], contexts: contexts, contextTokens: 32)
            let prediction = zip(outputs[0].values, outputs[1].values).map { $0 + guidance * ($1 - $0) }
            try sampler.step(step, modelOutput: prediction, latents: &sample)
        }
        let image = sample.map { min(max($0 / 2 + 0.5, 0), 1) }
        let error = DiffusionFixtures.maxAbsDifference(image, Self.tensor("ddim_final_image").values)
        print("DiT DDIM 10-step image max-abs error \(error)")
        #expect(error < 1e-3)
    }

    /// The same generation through `ImagePipeline`, loaded from the folder as the server loads it
    /// (PixArtAlphaPipeline layout, no VAE: pixels taken as they are).
    @Test func pipelineLoadsTheFolderAndMatchesPyTorch() throws {
        let pipeline = try ImagePipeline(directory: Self.pipelineDirectory)
        #expect(pipeline.vae == nil && pipeline.unet == nil)
        #expect(pipeline.latentChannels == 3 && pipeline.nativeSize == 32 && pipeline.sizeMultiple == 4)
        let request = ImageRequest(
            prompt: Self.meta["prompt"] as! String,
            negativePrompt: Self.meta["negative_prompt"] as! String,
            steps: Self.meta["steps"] as! Int,
            guidanceScale: Self.meta["guidance_scale"] as! Double, sampler: .ddim,
            initialLatents: Self.tensor("initial_noise").values)
        let image = try pipeline.generate(request)
        #expect(image.width == 32 && image.height == 32)
        let error = DiffusionFixtures.maxAbsDifference(image.pixels, Self.tensor("ddim_final_image").values)
        print("DiT pipeline DDIM 10-step image max-abs error \(error)")
        #expect(error < 1e-3)
        #expect(throws: ImageError.self) { try pipeline.generate(ImageRequest(prompt: "x", width: 30, height: 32)) }
    }
}
