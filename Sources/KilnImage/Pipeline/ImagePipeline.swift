import Foundation
import KilnLayers
import KilnTensor
import KilnTokenizer

/// A text-to-image diffusion pipeline loaded from a diffusers folder: Stable Diffusion 1.x
/// (`StableDiffusionPipeline`: `tokenizer/`, `text_encoder/`, `unet/`, `vae/`, `scheduler/`) or a
/// diffusion transformer in PixArt-α's layout (`PixArtAlphaPipeline`: `transformer/` in place of
/// `unet/`, with a CLIP text encoder, and no `vae/` when the transformer works on pixels).
///
/// `generate` encodes the prompt and the negative prompt, walks the chosen sampler with
/// classifier-free guidance (both halves in one batched denoiser call), and decodes with the VAE
/// (or maps pixels from [-1, 1] when there is none). One pipeline runs one generation at a time;
/// callers serialize (the engine loop does).
public final class ImagePipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    /// The network `step` runs: a UNet or a diffusion transformer.
    public let denoiser: Denoiser
    /// The latent decoder; nil when the denoiser works on pixels.
    public let vae: VAEDecoder?
    public let schedule: NoiseSchedule
    public let limits: ImagePipelineLimits
    /// The denoiser's native sample size (config `sample_size`), in latents.
    public let nativeLatentSize: Int

    /// The UNet, for a Stable Diffusion pipeline.
    public var unet: UNet2DConditionModel? { denoiser as? UNet2DConditionModel }
    /// Channels of the latents the sampler walks (3 for a pixel-space model).
    public var latentChannels: Int { denoiser.inChannels }
    /// Pixels per latent along each side (1 without a VAE).
    public var vaeScale: Int { vae.map { 1 << $0.upsamplings } ?? 1 }
    /// Widths and heights must be multiples of this: the VAE's scale (8 for SD) times what the
    /// denoiser needs of its sample sides (a transformer's patch size).
    public var sizeMultiple: Int { vaeScale * denoiser.sampleSideMultiple }
    public var nativeSize: Int { nativeLatentSize * vaeScale }

    /// The guidance scale and sampler of a request that names none: what diffusers does with this
    /// folder — its pipeline's default guidance (7.5 for Stable Diffusion, 4.5 for PixArt-α) and
    /// the folder's own scheduler where Kiln has it (DDIM, Euler, Euler ancestral, DPM++ 2M),
    /// else Euler (for PNDM, which Kiln lacks).
    public let defaultGuidanceScale: Double
    public let defaultSampler: SamplerKind
    /// Where the pipeline's kernels run: its models' worker pool, packing buffers and settings.
    public let kernels: KernelContext

    /// Loads the pipeline in `directory`; its models' kernels run on `kernels` (by default a
    /// context of its own, with a pool of one thread per core and the default settings).
    public init(
        directory: String, limits: ImagePipelineLimits = ImagePipelineLimits(),
        kernels: KernelContext = KernelContext()
    ) throws {
        self.kernels = kernels
        let index = try ComponentConfig(path: directory + "/model_index.json")
        let className = try index.string("_class_name", default: "StableDiffusionPipeline")
        let denoiserFolder: String
        switch className {
        case "StableDiffusionPipeline":
            denoiserFolder = "unet"
            defaultGuidanceScale = 7.5
            denoiser = try UNet2DConditionModel(directory: directory + "/unet", kernels: kernels)
            vae = try VAEDecoder(directory: directory + "/vae", kernels: kernels)
        case "PixArtAlphaPipeline":
            denoiserFolder = "transformer"
            defaultGuidanceScale = 4.5
            let transformer = try PixArtTransformer2DModel(directory: directory + "/transformer", kernels: kernels)
            guard transformer.outChannels == transformer.inChannels else {
                throw ImageError.invalidConfig(
                    "\(directory)/transformer: out_channels \(transformer.outChannels) differ from in_channels \(transformer.inChannels) (learned variance is not supported)"
                )
            }
            denoiser = transformer
            vae =
                FileManager.default.fileExists(atPath: directory + "/vae/config.json")
                ? try VAEDecoder(directory: directory + "/vae", kernels: kernels) : nil
        default:
            throw ImageError.invalidConfig("\(index.path): pipeline \(className) is not supported (StableDiffusionPipeline, PixArtAlphaPipeline)")
        }
        tokenizer = try CLIPTokenizer(directory: directory + "/tokenizer")
        textEncoder = try CLIPTextEncoder(directory: directory + "/text_encoder", kernels: kernels)
        guard textEncoder.width == denoiser.contextWidth else {
            throw ImageError.invalidConfig(
                "text encoder width \(textEncoder.width) differs from the \(denoiserFolder)'s context width \(denoiser.contextWidth)")
        }
        if let vae, denoiser.inChannels != vae.latentChannels {
            throw ImageError.invalidConfig(
                "\(denoiserFolder) in_channels \(denoiser.inChannels) differ from the VAE's latent_channels \(vae.latentChannels)")
        }
        let denoiserConfig = try ComponentConfig(path: directory + "/\(denoiserFolder)/config.json")
        nativeLatentSize = try denoiserConfig.int("sample_size", default: 64, range: 1...4096)
        let schedulerConfig = try ComponentConfig(path: directory + "/scheduler/scheduler_config.json")
        schedule = try Self.schedule(of: schedulerConfig)
        defaultSampler = try Self.sampler(of: schedulerConfig)
        self.limits = limits
    }

    /// Loads the pipeline in `directory`, its kernels on `kernels`.
    public static func load(directory: String, kernels: KernelContext = KernelContext()) throws -> ImagePipeline {
        try ImagePipeline(directory: directory, kernels: kernels)
    }

    /// The sampler that does what the scheduler named in `config` does.
    static func sampler(of config: ComponentConfig) throws -> SamplerKind {
        switch try config.string("_class_name", default: "") {
        case "DDIMScheduler": return .ddim
        case "EulerAncestralDiscreteScheduler": return .eulerAncestral
        case "DPMSolverMultistepScheduler": return .dpmSolverPlusPlus2M
        default: return .euler
        }
    }

    static func schedule(of config: ComponentConfig) throws -> NoiseSchedule {
        let path = config.path
        // A member the config omits takes diffusers' default (the same in the four scheduler
        // classes Kiln follows), except timestep_spacing, whose default is each class's own.
        let betaName = try config.string("beta_schedule", default: "linear")
        guard let beta = NoiseSchedule.BetaSchedule(rawValue: betaName) else {
            throw ImageError.invalidConfig("\(path): beta_schedule \(betaName) is not supported (linear, scaled_linear, squaredcos_cap_v2)")
        }
        let predictionName = try config.string("prediction_type", default: "epsilon")
        guard let prediction = NoiseSchedule.PredictionType(rawValue: predictionName) else {
            throw ImageError.invalidConfig("\(path): prediction_type \(predictionName) is not supported (epsilon, v_prediction)")
        }
        var spacing: NoiseSchedule.TimestepSpacing? = nil
        if config.has("timestep_spacing") {
            let spacingName = try config.string("timestep_spacing")
            guard let named = NoiseSchedule.TimestepSpacing(rawValue: spacingName) else {
                throw ImageError.invalidConfig("\(path): timestep_spacing \(spacingName) is not supported (leading, linspace, trailing)")
            }
            spacing = named
        }
        return try NoiseSchedule(
            trainTimesteps: config.int("num_train_timesteps", default: 1000, range: 2...100_000),
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
        let map = FeatureMap(values: latents, channels: latentChannels, height: latentHeight, width: latentWidth)
        let decoded = try vae?.decode(map) ?? map
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
        guard request.prompt.unicodeScalars.count <= limits.maxPromptCharacters,
            request.negativePrompt.unicodeScalars.count <= limits.maxPromptCharacters
        else {
            throw ImageError.invalidRequest("prompts are limited to \(limits.maxPromptCharacters) characters")
        }
        guard request.clipSkip >= 0, request.clipSkip < textEncoder.layerCount else {
            throw ImageError.invalidRequest("clip skip must be in 0..<\(textEncoder.layerCount), got \(request.clipSkip)")
        }
    }
}
