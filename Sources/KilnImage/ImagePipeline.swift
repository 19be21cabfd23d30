import Foundation

/// A Stable-Diffusion-style text-to-image pipeline loaded from a diffusers folder
/// (`model_index.json`, `tokenizer/`, `text_encoder/`, `unet/`, `vae/`, `scheduler/`).
///
/// `generate` encodes the prompt and the negative prompt, walks the chosen sampler with
/// classifier-free guidance (both halves in one batched UNet call), and decodes with the VAE.
/// One pipeline runs one generation at a time; callers serialize (the engine loop does).
public final class ImagePipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let unet: UNet2DConditionModel
    public let vae: VAEDecoder
    public let schedule: NoiseSchedule
    public let limits: ImagePipelineLimits
    /// The UNet's native latent size (config `sample_size`).
    public let nativeLatentSize: Int

    /// Pixels per latent along each side.
    public var vaeScale: Int { 1 << vae.upsamplings }
    /// Widths and heights must be multiples of this: the VAE's scale (8 for SD). The UNet takes any
    /// latent size, matching odd sizes on its way up as diffusers does.
    public var sizeMultiple: Int { vaeScale }
    public var nativeSize: Int { nativeLatentSize * vaeScale }

    public init(directory: String, limits: ImagePipelineLimits = ImagePipelineLimits()) throws {
        let index = try ComponentConfig(path: directory + "/model_index.json")
        let className = try index.string("_class_name", default: "StableDiffusionPipeline")
        guard className == "StableDiffusionPipeline" else {
            throw ImageError.invalidConfig("\(index.path): pipeline \(className) is not supported (StableDiffusionPipeline)")
        }
        tokenizer = try CLIPTokenizer(directory: directory + "/tokenizer")
        textEncoder = try CLIPTextEncoder(directory: directory + "/text_encoder")
        unet = try UNet2DConditionModel(directory: directory + "/unet")
        vae = try VAEDecoder(directory: directory + "/vae")
        guard textEncoder.width == unet.contextWidth else {
            throw ImageError.invalidConfig("text encoder width \(textEncoder.width) differs from the UNet's cross_attention_dim \(unet.contextWidth)")
        }
        guard unet.inChannels == vae.latentChannels else {
            throw ImageError.invalidConfig("UNet in_channels \(unet.inChannels) differ from the VAE's latent_channels \(vae.latentChannels)")
        }
        let unetConfig = try ComponentConfig(path: directory + "/unet/config.json")
        nativeLatentSize = try unetConfig.int("sample_size", default: 64, range: 1...1024)
        schedule = try Self.loadSchedule(path: directory + "/scheduler/scheduler_config.json")
        self.limits = limits
    }

    /// Loads the pipeline in `directory`.
    public static func load(directory: String) throws -> ImagePipeline { try ImagePipeline(directory: directory) }

    static func loadSchedule(path: String) throws -> NoiseSchedule {
        let config = try ComponentConfig(path: path)
        let betaName = try config.string("beta_schedule", default: "scaled_linear")
        guard let beta = NoiseSchedule.BetaSchedule(rawValue: betaName) else {
            throw ImageError.invalidConfig("\(path): beta_schedule \(betaName) is not supported (linear, scaled_linear, squaredcos_cap_v2)")
        }
        let predictionName = try config.string("prediction_type", default: "epsilon")
        guard let prediction = NoiseSchedule.PredictionType(rawValue: predictionName) else {
            throw ImageError.invalidConfig("\(path): prediction_type \(predictionName) is not supported (epsilon, v_prediction)")
        }
        // Published SD 1.x configs (PNDM) omit timestep_spacing; PNDM's and DDIM's default is "leading".
        let spacingName = try config.string("timestep_spacing", default: "leading")
        guard let spacing = NoiseSchedule.TimestepSpacing(rawValue: spacingName) else {
            throw ImageError.invalidConfig("\(path): timestep_spacing \(spacingName) is not supported (leading, linspace, trailing)")
        }
        return try NoiseSchedule(trainTimesteps: config.int("num_train_timesteps", default: 1000, range: 2...100_000),
                                 betaStart: config.double("beta_start", default: 0.0001),
                                 betaEnd: config.double("beta_end", default: 0.02),
                                 betaSchedule: beta, predictionType: prediction, timestepSpacing: spacing,
                                 stepsOffset: config.int("steps_offset", default: 0, range: 0...1000),
                                 setAlphaToOne: config.bool("set_alpha_to_one", default: true))
    }

    /// Text embeddings [maxLength, width] of `text`.
    public func encode(prompt text: String, clipSkip: Int = 0) throws -> [Float] {
        try textEncoder.encode(tokenizer.encode(text), clipSkip: clipSkip)
    }

    /// Generates one image. `progress(step, latents)` runs after each denoising step (step counts
    /// from 1); returning false cancels and `generate` throws `ImageError.cancelled`.
    /// The step-wise API (`prepare`, `step`, `decode`) run on one generation.
    public func generate(_ request: ImageRequest, progress: (Int, [Float]) -> Bool = { _, _ in true }) throws -> GeneratedImage {
        let generation = try prepare(request)
        while !generation.isFinished {
            try step([generation])
            if !progress(generation.stepIndex, generation.latents) { throw ImageError.cancelled }
        }
        return try decode(generation)
    }

    /// Decodes final latents to an image in [0, 1] (diffusers' `image / 2 + 0.5`, clamped).
    public func decode(latents: [Float], latentWidth: Int, latentHeight: Int) throws -> GeneratedImage {
        let map = FeatureMap(values: latents, channels: vae.latentChannels, height: latentHeight, width: latentWidth)
        let decoded = try vae.decode(map)
        let pixels = decoded.values.map { min(max($0 / 2 + 0.5, 0), 1) }
        return GeneratedImage(width: decoded.width, height: decoded.height, pixels: pixels, latents: latents)
    }

    func validate(_ request: ImageRequest, width: Int, height: Int) throws {
        let multiple = sizeMultiple
        guard width > 0, height > 0, width % multiple == 0, height % multiple == 0 else {
            throw ImageError.invalidRequest("size \(width)x\(height): width and height must be positive multiples of \(multiple)")
        }
        guard width <= limits.maxSide, height <= limits.maxSide, width * height <= limits.maxPixels else {
            throw ImageError.invalidRequest("size \(width)x\(height) exceeds the limit (\(limits.maxSide) per side, \(limits.maxPixels) pixels)")
        }
        guard (1...limits.maxSteps).contains(request.steps) else {
            throw ImageError.invalidRequest("steps must be in 1...\(limits.maxSteps), got \(request.steps)")
        }
        guard request.guidanceScale.isFinite, request.guidanceScale >= 0, request.guidanceScale <= limits.maxGuidanceScale else {
            throw ImageError.invalidRequest("guidance scale must be in 0...\(limits.maxGuidanceScale), got \(request.guidanceScale)")
        }
        guard request.prompt.count <= limits.maxPromptCharacters, request.negativePrompt.count <= limits.maxPromptCharacters else {
            throw ImageError.invalidRequest("prompts are limited to \(limits.maxPromptCharacters) characters")
        }
        guard request.clipSkip >= 0, request.clipSkip < textEncoder.layerCount else {
            throw ImageError.invalidRequest("clip skip must be in 0..<\(textEncoder.layerCount), got \(request.clipSkip)")
        }
    }
}
