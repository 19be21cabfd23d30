/// What to generate. Defaults follow common Stable Diffusion practice; `ImagePipeline.generate`
/// validates every field against `ImagePipelineLimits`.
public struct ImageRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String
    /// Image size in pixels; nil means the model's native size. Must be a multiple of
    /// `ImagePipeline.sizeMultiple`.
    public var width: Int?
    public var height: Int?
    public var steps: Int
    /// Classifier-free guidance scale; at or below 1 the negative half is skipped, as diffusers does.
    public var guidanceScale: Double
    public var sampler: SamplerKind
    public var spacing: SigmaSpacing
    public var seed: UInt64
    /// Layers of the text encoder to skip from the end (0: use them all).
    public var clipSkip: Int
    /// Unit-variance starting noise [latentChannels, height/f, width/f] to use instead of the seed's
    /// (so that an image can be reproduced against another implementation).
    public var initialLatents: [Float]?
    /// Euler ancestral's per-step noise, each latents-sized, instead of the seed's stream.
    public var ancestralNoise: [[Float]]?

    public init(
        prompt: String, negativePrompt: String = "", width: Int? = nil, height: Int? = nil, steps: Int = 20,
        guidanceScale: Double = 7.5, sampler: SamplerKind = .euler, spacing: SigmaSpacing = .default,
        seed: UInt64 = 0, clipSkip: Int = 0, initialLatents: [Float]? = nil, ancestralNoise: [[Float]]? = nil
    ) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.width = width
        self.height = height
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.sampler = sampler
        self.spacing = spacing
        self.seed = seed
        self.clipSkip = clipSkip
        self.initialLatents = initialLatents
        self.ancestralNoise = ancestralNoise
    }
}

/// Bounds on requests, so that no request can ask for unbounded time or memory.
public struct ImagePipelineLimits: Sendable {
    public var maxSide: Int = 2048
    public var maxPixels: Int = 1024 * 1024
    public var maxSteps: Int = 150
    public var maxGuidanceScale: Double = 50
    public var maxPromptCharacters: Int = 10_000

    public init() {}
}

/// A generated image: RGB in [0, 1], channel-major [3, height, width], and the final latents.
public struct GeneratedImage: Sendable {
    public let width: Int
    public let height: Int
    public let pixels: [Float]
    public let latents: [Float]

    /// An image from planar RGB `pixels` [3, height, width] in [0, 1] and the latents it came from.
    public init(width: Int, height: Int, pixels: [Float], latents: [Float]) {
        precondition(pixels.count == 3 * width * height, "an RGB image needs 3 × width × height values")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.latents = latents
    }

    /// The image as a PNG file (8-bit RGB).
    public func pngData() throws -> [UInt8] { try PNGEncoder.encode(planar: pixels, width: width, height: height) }
}
