import Foundation
import KilnFormats
import KilnImage
import Testing

/// Whole v-prediction generations (what Stable Diffusion 2.x's schedulers say) against diffusers:
/// the committed tiny pipeline with its scheduler switched to `v_prediction`, 12 steps, guidance 5,
/// each sampler (Tests/Fixtures/diffusion/vprediction.*, made by
/// Scripts/fixtures/make-vprediction-fixtures.py).
@Suite struct VPredictionReferenceTests {
    static let reference = try! SafetensorsFile(path: DiffusionFixtures.directory.appendingPathComponent("vprediction.safetensors").path)
    static let meta = DiffusionFixtures.json("vprediction.json") as! [String: Any]

    /// The tiny pipeline with the scheduler config of `variant`: `saved`, its own config switched
    /// to v-prediction; `sd2`, Stable Diffusion 2.1's published config as written (no
    /// timestep_spacing). A temporary folder whose other components link to the committed ones.
    /// `tiny-sd2` is the committed pipeline of Stable Diffusion 2.x's shape (GELU text encoder,
    /// linear projections, per-block head counts, SD 2.1's scheduler config).
    static func pipeline(_ variant: String) throws -> ImagePipeline {
        if variant == "tiny-sd2" { return try ImagePipeline(directory: DiffusionFixtures.directory.appendingPathComponent("tiny-sd2").path) }
        let fileManager = FileManager.default
        let folder = fileManager.temporaryDirectory.appendingPathComponent("kiln-vprediction-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: folder) }
        let source = URL(fileURLWithPath: DiffusionFixtures.pipelineDirectory)
        try fileManager.createDirectory(at: folder.appendingPathComponent("scheduler"), withIntermediateDirectories: true)
        for component in ["model_index.json", "tokenizer", "text_encoder", "unet", "vae"] {
            try fileManager.createSymbolicLink(
                at: folder.appendingPathComponent(component), withDestinationURL: source.appendingPathComponent(component))
        }
        let configPath = "scheduler/scheduler_config.json"
        let config: Data
        if variant == "sd2" {
            config = try Data(contentsOf: DiffusionFixtures.directory.appendingPathComponent("sd2-scheduler_config.json"))
        } else {
            var saved = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent(configPath))) as! [String: Any]
            saved["prediction_type"] = "v_prediction"
            config = try JSONSerialization.data(withJSONObject: saved)
        }
        try config.write(to: folder.appendingPathComponent(configPath))
        return try ImagePipeline(directory: folder.path)
    }

    @Test func schedulesAreVPredictionAndTheSD2ConfigNamesNoSpacing() throws {
        #expect(try Self.pipeline("saved").schedule.predictionType == .vPrediction)
        let sd2 = try Self.pipeline("sd2").schedule
        #expect(sd2.predictionType == .vPrediction)
        #expect(sd2.timestepSpacing == nil)
        #expect(try DiffusionSampler(kind: .ddim, spacing: .default, schedule: sd2, steps: 12).timestepSpacing == .leading)
        #expect(try DiffusionSampler(kind: .euler, spacing: .default, schedule: sd2, steps: 12).timestepSpacing == .linspace)
    }

    @Test func stableDiffusion2ShapedTextEncoderMatchesTransformers() throws {
        let pipeline = try Self.pipeline("tiny-sd2")
        let expected = DiffusionFixtures.tensor("tiny-sd2/prompt_embeds", in: Self.reference).values
        let ours = try pipeline.encode(prompt: Self.meta["prompt"] as! String)
        #expect(DiffusionFixtures.maxAbsDifference(ours, expected) < 1e-4)
    }

    @Test(
        arguments: ["saved", "sd2"].flatMap { variant in
            ["ddim/default", "euler/default", "euler/karras", "euler_a/default", "dpm++2m/default", "dpm++2m/karras"].map { "\(variant)/\($0)" }
        } + ["tiny-sd2/ddim/default", "tiny-sd2/euler/default", "tiny-sd2/dpm++2m/karras"])
    func generationMatchesDiffusers(key: String) throws {
        let parts = key.split(separator: "/").dropFirst().map(String.init)
        let pipeline = try Self.pipeline(String(key.split(separator: "/")[0]))
        let steps = Self.meta["steps"] as! Int
        let initial = DiffusionFixtures.tensor("init_latents", in: Self.reference)
        var ancestral: [[Float]]? = nil
        if parts[0] == "euler_a" {
            let noise = DiffusionFixtures.tensor("\(key)/ancestral_noise", in: Self.reference).values
            let size = initial.values.count
            ancestral = (0..<steps).map { Array(noise[($0 * size)..<(($0 + 1) * size)]) }
        }
        let request = ImageRequest(
            prompt: Self.meta["prompt"] as! String, negativePrompt: Self.meta["negative_prompt"] as! String,
            width: Self.meta["width"] as? Int, height: Self.meta["height"] as? Int, steps: steps,
            guidanceScale: Self.meta["guidance_scale"] as! Double,
            sampler: SamplerKind(rawValue: parts[0])!, spacing: SigmaSpacing(rawValue: parts[1])!,
            initialLatents: initial.values, ancestralNoise: ancestral)
        var finalLatents: [Float] = []
        let image = try pipeline.generate(request) { step, latents in
            if step == steps { finalLatents = latents }
            return true
        }
        let run = (Self.meta["runs"] as! [[String: Any]]).first { $0["key"] as? String == key }!
        let timesteps = pipelineTimesteps(pipeline, request), expectedTimesteps = run["timesteps"] as! [Double]
        #expect(timesteps.count == expectedTimesteps.count)
        #expect(zip(timesteps, expectedTimesteps).allSatisfy { abs($0 - $1) < 1e-3 }, "\(timesteps) vs \(expectedTimesteps)")
        let expectedLatents = DiffusionFixtures.tensor("\(key)/final_latents", in: Self.reference).values
        let latentError = DiffusionFixtures.maxAbsDifference(finalLatents, expectedLatents) / max(1, DiffusionFixtures.maxAbs(expectedLatents))
        // diffusers returns [1, H, W, 3]; Kiln keeps [3, H, W].
        let expected = DiffusionFixtures.tensor("\(key)/image", in: Self.reference)
        let (height, width) = (expected.shape[1], expected.shape[2])
        var ours = [Float](repeating: 0, count: expected.values.count)
        for channel in 0..<3 { for pixel in 0..<(height * width) { ours[pixel * 3 + channel] = image.pixels[channel * height * width + pixel] } }
        let imageError = DiffusionFixtures.maxAbsDifference(ours, expected.values)
        print("v-prediction \(key): image max-abs \(imageError), final latents relative max-abs \(latentError)")
        #expect(latentError < 1e-4)
        #expect(imageError < 1e-3)
    }

    /// The timesteps the pipeline's sampler walks for `request`.
    func pipelineTimesteps(_ pipeline: ImagePipeline, _ request: ImageRequest) -> [Double] {
        let sampler = try! DiffusionSampler(kind: request.sampler, spacing: request.spacing, schedule: pipeline.schedule, steps: request.steps)
        return sampler.timesteps
    }
}
