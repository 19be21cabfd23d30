import Foundation
import KilnLayers
import KilnTensor
import KilnTokenizer

/// A caption-conditioned GAN (Kiln's kiln-shapes-gan, trained by `Scripts/gan/`), loaded from its
/// folder: `tokenizer/` and `text_encoder/` in the DiT's diffusers layout (the same CLIP loaders),
/// `generator/` (`ShapesGenerator`), and `model_index.json` with `_class_name` "KilnShapesGAN".
///
/// An image takes one step: the seed draws the latent z (`SeededNoise`, as a diffusion model's
/// starting noise), the caption gives the conditioning vector, and the generator draws. Steps of
/// several generations run as one batched generator call; an image does not depend on its batch.
public final class GANPipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let generator: ShapesGenerator
    public let limits: ImagePipelineLimits
    public let kernels: KernelContext

    /// The one size the generator draws (width and height, pixels).
    public var imageSize: Int { generator.imageSize }

    public init(directory: String, limits: ImagePipelineLimits = ImagePipelineLimits(), kernels: KernelContext = KernelContext())
        throws
    {
        self.kernels = kernels
        self.limits = limits
        let index = try ComponentConfig(path: directory + "/model_index.json")
        let className = try index.string("_class_name")
        guard className == "KilnShapesGAN" else {
            throw ImageError.invalidConfig("\(index.path): pipeline \(className) is not a GAN (KilnShapesGAN)")
        }
        tokenizer = try CLIPTokenizer(directory: directory + "/tokenizer")
        textEncoder = try CLIPTextEncoder(directory: directory + "/text_encoder", kernels: kernels)
        generator = try ShapesGenerator(directory: directory + "/generator", kernels: kernels)
        guard generator.conditionSize == 2 * textEncoder.width else {
            throw ImageError.invalidConfig(
                "the generator's condition holds \(generator.conditionSize) values; the text encoder gives 2 × \(textEncoder.width)")
        }
    }

    /// The caption's conditioning vector (`gan_model.condition`): the text encoder's final state at
    /// the first end-of-text token, then the mean of the states from the start token through it.
    public func condition(prompt: String) throws -> [Float] {
        let ids = tokenizer.encode(prompt)
        let hidden = try textEncoder.encode(ids)
        let width = textEncoder.width
        guard let end = ids.firstIndex(of: tokenizer.endId) else {
            throw ImageError.invalidRequest("the tokenized prompt holds no end token")
        }
        var result = [Float](repeating: 0, count: 2 * width)
        for dim in 0..<width { result[dim] = hidden[end * width + dim] }
        for position in 0...end {
            for dim in 0..<width { result[width + dim] += hidden[position * width + dim] }
        }
        for dim in 0..<width { result[width + dim] /= Float(end + 1) }
        return result
    }

    /// Validates `request` (size, prompt), encodes the caption and draws z from the seed (or takes
    /// `initialLatents`). Steps, guidance, sampler and negative prompt do not apply and are ignored.
    public func prepare(_ request: ImageRequest) throws -> GANGeneration {
        let width = request.width ?? imageSize, height = request.height ?? imageSize
        guard width == imageSize, height == imageSize else {
            throw ImageError.invalidRequest("size \(width)x\(height): this generator draws \(imageSize)x\(imageSize) only")
        }
        guard request.prompt.unicodeScalars.count <= limits.maxPromptCharacters else {
            throw ImageError.invalidRequest("prompts are limited to \(limits.maxPromptCharacters) characters")
        }
        let latent: [Float]
        if let given = request.initialLatents {
            guard given.count == generator.latentSize else {
                throw ImageError.invalidRequest("initial latents hold \(given.count) values; the generator takes \(generator.latentSize)")
            }
            latent = given
        } else {
            var noise = SeededNoise(seed: request.seed)
            latent = noise.gaussians(count: generator.latentSize)
        }
        return GANGeneration(request: request, latent: latent, condition: try condition(prompt: request.prompt))
    }

    /// Draws every generation's image in one batched generator call. On a throw none has moved.
    public func step(_ generations: [GANGeneration]) throws {
        guard !generations.isEmpty else { return }
        for (index, generation) in generations.enumerated() {
            guard generation.output == nil else { throw ImageError.invalidRequest("a finished generation cannot take another step") }
            if generations[..<index].contains(where: { $0 === generation }) {
                throw ImageError.invalidRequest("generation \(index) appears twice in one step")
            }
        }
        let outputs = try generator.generate(
            latents: generations.flatMap(\.latent), conditions: generations.flatMap(\.condition), count: generations.count)
        for (generation, output) in zip(generations, outputs) { generation.output = output }
    }

    /// The finished generation's image in [0, 1]; its `latents` are z.
    public func decode(_ generation: GANGeneration) throws -> GeneratedImage {
        guard let output = generation.output else { throw ImageError.invalidRequest("the generation has not been drawn yet") }
        return GeneratedImage(
            width: output.width, height: output.height, pixels: output.values.map { min(max($0 / 2 + 0.5, 0), 1) },
            latents: generation.latent)
    }

    /// One image for each prompt and seed, in one batched call (for the command line and benchmarks).
    public func generate(prompts: [String], seeds: [UInt64]) throws -> [GeneratedImage] {
        let generations = try zip(prompts, seeds).map { try prepare(ImageRequest(prompt: $0, steps: 1, seed: $1)) }
        try step(generations)
        return try generations.map { try decode($0) }
    }
}

extension GANPipeline: SteppedImageModel {
    public func startGeneration(_ request: ImageRequest) throws -> any SteppedImageGeneration { try prepare(request) }

    public func stepGenerations(_ generations: [any SteppedImageGeneration]) throws {
        try step(own(generations, as: GANGeneration.self))
    }

    public func image(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        try decode(own([generation], as: GANGeneration.self)[0])
    }

    /// Before its step a generation has nothing to show but a mid-grey square; after, its image.
    public func previewImage(of generation: any SteppedImageGeneration) throws -> GeneratedImage {
        let own = try own([generation], as: GANGeneration.self)[0]
        if own.output != nil { return try decode(own) }
        return GeneratedImage(
            width: imageSize, height: imageSize, pixels: [Float](repeating: 0.5, count: 3 * imageSize * imageSize),
            latents: own.latent)
    }
}
