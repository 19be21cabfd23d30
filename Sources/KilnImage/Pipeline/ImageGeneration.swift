/// One text-to-image generation part way through: its latents, its sampler's state, the step it
/// has reached and its text conditioning. Made by `ImagePipeline.prepare`, advanced by
/// `ImagePipeline.step` (alone or together with other generations of the same pipeline and
/// latent size, in one batched denoiser call), finished by `ImagePipeline.decode`.
///
/// Not thread-safe: one owner (the engine loop) drives it.
public final class ImageGeneration: @unchecked Sendable {
    /// Generations whose keys are equal can share a denoiser call.
    public struct BatchKey: Hashable, Sendable {
        public var latentChannels: Int
        public var latentHeight: Int
        public var latentWidth: Int
    }

    public let request: ImageRequest
    /// Image size in pixels.
    public let width: Int
    public let height: Int
    public let batchKey: BatchKey
    /// Latents [latentChannels, latentHeight, latentWidth] at the sampler's scale.
    public internal(set) var latents: [Float]
    /// Steps taken so far (0 ..< `stepCount`); the next step's index.
    public internal(set) var stepIndex = 0

    var sampler: DiffusionSampler
    var noise: SeededNoise
    /// [negative, positive] with guidance, [positive] without; each [contextTokens, width].
    let contexts: [[Float]]
    let contextTokens: Int
    let guidanceScale: Float

    init(
        request: ImageRequest, width: Int, height: Int, batchKey: BatchKey, latents: [Float],
        sampler: DiffusionSampler, noise: SeededNoise, contexts: [[Float]], contextTokens: Int
    ) {
        self.request = request
        self.width = width
        self.height = height
        self.batchKey = batchKey
        self.latents = latents
        self.sampler = sampler
        self.noise = noise
        self.contexts = contexts
        self.contextTokens = contextTokens
        self.guidanceScale = Float(request.guidanceScale)
    }

    /// Denoising steps in all.
    public var stepCount: Int { sampler.stepCount }
    public var isFinished: Bool { stepIndex >= stepCount }
    /// Denoiser samples one step of this generation takes: 2 with classifier-free guidance, else 1.
    public var samplesPerStep: Int { contexts.count }
    var isGuided: Bool { contexts.count == 2 }
    var latentCount: Int { batchKey.latentChannels * batchKey.latentHeight * batchKey.latentWidth }
}
