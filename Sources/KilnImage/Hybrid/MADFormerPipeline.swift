import Foundation
import KilnLayers
import KilnTensor
import KilnTokenizer

/// Kiln's autoregressive–diffusion hybrid (kiln-shapes-madformer, trained by `Scripts/madformer/`),
/// loaded from its folder: `model_index.json` with `_class_name` "KilnShapesMADFormer",
/// `tokenizer/` and `text_encoder/` in the DiT's layout (the same CLIP loaders), `transformer/`
/// (`MADFormerModel`) and `scheduler/` (a diffusers DDIM config).
///
/// An image is made band by band, top to bottom: each band takes the request's `steps` DDIM steps
/// (v-prediction), its first one also running the band's slot through the autoregressive layers;
/// a finished band is clamped to [-1, 1] and conditions the next. Classifier-free guidance runs an
/// empty-caption stream beside the caption through both parts (not at guidance 1). The sampler is
/// always DDIM: a request's `sampler` and `spacing` are not read, and a negative prompt is refused.
/// Steps of several generations run in one `step` call; an image does not depend on its batch.
public final class MADFormerPipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let model: MADFormerModel
    public let schedule: NoiseSchedule
    public let limits: ImagePipelineLimits
    public let kernels: KernelContext
    /// DDIM steps per band and the guidance scale of a request that names none.
    public static let defaultSteps = 10
    public static let defaultGuidanceScale = 4.0
    /// The projected empty caption [T, D], the guidance stream's (the same for every request).
    private(set) var emptyCaption: [Float] = []

    /// The one size the model draws (width and height, pixels).
    public var imageSize: Int { model.sampleSize }
    /// Bands per image: a generation takes `blockCount` × steps steps.
    public var blockCount: Int { model.blockCount }

    public init(directory: String, limits: ImagePipelineLimits = ImagePipelineLimits(), kernels: KernelContext = KernelContext())
        throws
    {
        self.kernels = kernels
        self.limits = limits
        let index = try ImageError.typed { try ComponentConfig(path: directory + "/model_index.json") }
        let className = try ImageError.typed { try index.string("_class_name") }
        guard className == "KilnShapesMADFormer" else {
            throw ImageError.invalidConfig("\(index.path): pipeline \(className) is not a hybrid (KilnShapesMADFormer)")
        }
        tokenizer = try ImageError.typed { try CLIPTokenizer(directory: directory + "/tokenizer") }
        textEncoder = try ImageError.typed { try CLIPTextEncoder(directory: directory + "/text_encoder", kernels: kernels) }
        model = try MADFormerModel(directory: directory + "/transformer", kernels: kernels)
        guard textEncoder.width == model.captionChannels else {
            throw ImageError.invalidConfig(
                "the text encoder's width \(textEncoder.width) differs from the transformer's caption_channels \(model.captionChannels)")
        }
        let scheduler = try ImageError.typed { try ComponentConfig(path: directory + "/scheduler/scheduler_config.json") }
        schedule = try ImageError.typed { try ImagePipeline.schedule(of: scheduler) }
        emptyCaption = try caption("")
    }

    /// The projected caption c [T, D] of `prompt` (T: the tokenizer's length).
    func caption(_ prompt: String) throws -> [Float] {
        let states = try textEncoder.encode(tokenizer.encode(prompt))
        return model.projectCaption(states, tokens: tokenizer.maxLength, workspace: Workspace(kernels: kernels))
    }

    /// Validates `request` (size, steps, guidance, prompt), encodes the caption and draws the
    /// starting noise [3, S, S] from the seed (or takes `initialLatents`).
    public func prepare(_ request: ImageRequest) throws -> MADFormerGeneration {
        let width = request.width ?? imageSize, height = request.height ?? imageSize
        guard width == imageSize, height == imageSize else {
            throw ImageError.invalidRequest("size \(width)x\(height): this model draws \(imageSize)x\(imageSize) only")
        }
        guard (1...limits.maxSteps).contains(request.steps) else {
            throw ImageError.invalidRequest("steps (per band) must be in 1...\(limits.maxSteps), got \(request.steps)")
        }
        guard request.guidanceScale.isFinite, (0...limits.maxGuidanceScale).contains(request.guidanceScale) else {
            throw ImageError.invalidRequest("guidance scale must be in 0...\(limits.maxGuidanceScale), got \(request.guidanceScale)")
        }
        guard request.negativePrompt.isEmpty else {
            throw ImageError.invalidRequest("this model guides with the empty caption; it takes no negative prompt")
        }
        guard request.prompt.unicodeScalars.count <= limits.maxPromptCharacters else {
            throw ImageError.invalidRequest("prompts are limited to \(limits.maxPromptCharacters) characters")
        }
        let count = 3 * imageSize * imageSize
        var seeded = SeededNoise(seed: request.seed)
        let noise = request.initialLatents ?? seeded.gaussians(count: count)
        guard noise.count == count else {
            throw ImageError.invalidRequest("initial latents hold \(noise.count) values; the model takes 3×\(imageSize)×\(imageSize)")
        }
        let sampler = try DiffusionSampler(kind: .ddim, spacing: .default, schedule: schedule, steps: request.steps)
        var captions = [try caption(request.prompt)]
        if request.guidanceScale != 1 { captions.append(emptyCaption) }
        let streams = captions.map { MADFormerStream(model: model, caption: $0, captionTokens: tokenizer.maxLength) }
        return MADFormerGeneration(request: request, model: model, noise: noise, sampler: sampler, streams: streams)
    }

    /// Advances each generation by one DDIM step of its current band (the band's first step also
    /// runs the autoregressive layers), each at its own band and step. All are checked before any moves.
    public func step(_ generations: [MADFormerGeneration]) throws {
        for (index, generation) in generations.enumerated() {
            guard !generation.isFinished else { throw ImageError.invalidRequest("a finished generation cannot take another step") }
            if generations[..<index].contains(where: { $0 === generation }) {
                throw ImageError.invalidRequest("generation \(index) appears twice in one step")
            }
        }
        // Every stream is a sample of its own: side by side on the kernel pool's threads, each
        // sample's kernels on its thread (a stream's arithmetic is the same alone or batched).
        // First the bands' first steps: each stream's slot through the autoregressive layers.
        let starting = generations.filter { $0.blockStep == 0 }
        let conditioned = starting.flatMap { generation in generation.streams.map { (generation, $0) } }
        PackingTeam.runSamples(conditioned.count, context: kernels) { index in
            let (generation, stream) = conditioned[index]
            // generation.band holds the clean band above (unread for band 0).
            generation.band.withUnsafeBufferPointer { previous in
                model.condition(block: generation.blockIndex, previous: previous.baseAddress!, stream: stream, workspace: stream.workspace)
            }
        }
        for generation in starting { generation.loadBand(generation.blockIndex, from: generation.noise) }
        // Then every stream's v at its generation's timestep.
        let times = generations.map { model.timestepModulation($0.sampler.timesteps[$0.blockStep], workspace: $0.streams[0].workspace) }
        let denoised = generations.indices.flatMap { index in generations[index].streams.map { (index, $0) } }
        PackingTeam.runSamples(denoised.count, context: kernels) { sample in
            let (index, stream) = denoised[sample]
            let generation = generations[index]
            generation.band.withUnsafeBufferPointer { noisy in
                stream.prediction.withUnsafeMutableBufferPointer { output in
                    model.denoise(
                        noisy.baseAddress!, block: generation.blockIndex, time: times[index], stream: stream, into: output.baseAddress!,
                        workspace: stream.workspace)
                }
            }
        }
        for generation in generations { try advance(generation) }
    }

    /// Guidance and the DDIM step from the streams' v; a band's last step clamps it into the image.
    private func advance(_ generation: MADFormerGeneration) throws {
        let block = generation.blockIndex, step = generation.blockStep
        var prediction = generation.streams[0].prediction
        if generation.streams.count == 2 {
            let conditional = generation.streams[0].prediction, unconditional = generation.streams[1].prediction
            let scale = generation.guidanceScale
            for index in generation.guided.indices {
                generation.guided[index] = unconditional[index] + scale * (conditional[index] - unconditional[index])
            }
            prediction = generation.guided
        }
        try generation.sampler.step(step, modelOutput: prediction, latents: &generation.band)
        generation.blockStep += 1
        if generation.blockStep == generation.stepsPerBlock {
            for index in generation.band.indices { generation.band[index] = min(max(generation.band[index], -1), 1) }
            generation.storeBand(block, into: &generation.image)
            generation.blockIndex += 1
            generation.blockStep = 0
        }
    }

    /// The finished generation's image in [0, 1]; its `latents` are the image in [-1, 1].
    public func decode(_ generation: MADFormerGeneration) throws -> GeneratedImage {
        guard generation.isFinished else { throw ImageError.invalidRequest("the generation has not finished its bands") }
        return pixels(generation.image)
    }

    /// The finished bands, the current band's x_t once it has taken a step, mid-grey below.
    public func preview(_ generation: MADFormerGeneration) -> GeneratedImage {
        guard !generation.isFinished, generation.blockStep > 0 else { return pixels(generation.image) }
        var shown = generation.image
        generation.storeBand(generation.blockIndex, into: &shown)
        return pixels(shown)
    }

    /// An image [3, S, S] in [-1, 1] as pixels in [0, 1].
    private func pixels(_ values: [Float]) -> GeneratedImage {
        GeneratedImage(width: imageSize, height: imageSize, pixels: values.map { min(max($0 / 2 + 0.5, 0), 1) }, latents: values)
    }

    /// One image for each prompt and seed, stepped together (for the command line and benchmarks).
    public func generate(prompts: [String], seeds: [UInt64], steps: Int = defaultSteps, guidanceScale: Double = defaultGuidanceScale)
        throws -> [GeneratedImage]
    {
        let generations = try zip(prompts, seeds).map {
            try prepare(ImageRequest(prompt: $0, steps: steps, guidanceScale: guidanceScale, sampler: .ddim, seed: $1))
        }
        while !generations.allSatisfy(\.isFinished) { try step(generations) }
        return try generations.map { try decode($0) }
    }
}

extension MADFormerPipeline: SteppedImageModel {
    public func startGeneration(_ request: ImageRequest) throws -> any SteppedImageGeneration { try prepare(request) }

    public func stepGenerations(_ generations: [any SteppedImageGeneration]) throws {
        try step(own(generations, as: MADFormerGeneration.self))
    }

    public func image(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        try decode(own([generation], as: MADFormerGeneration.self)[0])
    }

    public func previewImage(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        preview(try own([generation], as: MADFormerGeneration.self)[0])
    }
}
