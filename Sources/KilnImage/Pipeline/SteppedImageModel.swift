/// A generation part way through, as a scheduler sees it: how many steps it takes and how many it
/// has taken. Diffusion's `ImageGeneration` (one step per denoising step) and the GAN's
/// `GANGeneration` (one step in all) are both.
public protocol SteppedImageGeneration: AnyObject {
    /// Steps taken so far; the next step's index.
    var stepIndex: Int { get }
    /// Steps in all.
    var stepCount: Int { get }
}

extension SteppedImageGeneration {
    public var isFinished: Bool { stepIndex >= stepCount }
}

/// An image model a scheduler drives step by step, batching the steps of several generations into
/// one call: a diffusion pipeline (`ImagePipeline`: one denoiser call per step) or a generator that
/// draws in one step (`GANPipeline`). Generations passed in must have been started by the same
/// model; one caller at a time.
public protocol SteppedImageModel: AnyObject, Sendable {
    /// Validates `request` and starts its generation (text encoding, starting latents).
    func startGeneration(_ request: ImageRequest) throws -> any SteppedImageGeneration
    /// Advances each generation by one step, all of them in one batched call.
    func stepGenerations(_ generations: [any SteppedImageGeneration]) throws
    /// The finished generation's image.
    func image(of generation: any SteppedImageGeneration) throws -> GeneratedImage
    /// A cheap picture of where the generation stands.
    func previewImage(of generation: any SteppedImageGeneration) throws -> GeneratedImage
}

extension SteppedImageModel {
    /// `generations` as the model's own generation type, or an error naming the stranger.
    func own<Generation: SteppedImageGeneration>(_ generations: [any SteppedImageGeneration], as type: Generation.Type) throws
        -> [Generation]
    {
        try generations.map { generation in
            guard let own = generation as? Generation else {
                throw ImageError.invalidRequest("a \(Swift.type(of: generation)) cannot be stepped by \(Self.self)")
            }
            return own
        }
    }
}

extension ImageGeneration: SteppedImageGeneration {}

extension ImagePipeline: SteppedImageModel {
    public func startGeneration(_ request: ImageRequest) throws -> any SteppedImageGeneration { try prepare(request) }

    public func stepGenerations(_ generations: [any SteppedImageGeneration]) throws {
        try step(own(generations, as: ImageGeneration.self))
    }

    public func image(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        try decode(own([generation], as: ImageGeneration.self)[0])
    }

    public func previewImage(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        preview(try own([generation], as: ImageGeneration.self)[0])
    }
}
