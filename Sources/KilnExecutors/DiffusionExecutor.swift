import Foundation
import KilnImage
import KilnServe

/// The engine behind the scheduler for image jobs: one or more image models by model id (diffusion
/// `ImagePipeline`s, whose jobs take one denoising step per step, `GANPipeline`s, whose jobs take
/// one step in all, and `MADFormerPipeline`s, whose jobs take one DDIM step of one band per step),
/// and the generation of every admitted job. A step of several generations is one
/// `SteppedImageModel.stepGenerations`, hence one batched denoiser (or generator) call.
///
/// Called from the scheduler's image lane (and from the scheduler thread while the lane is idle),
/// never from two threads at once; the lock only guards the table against misuse.
///
/// A job's `ImageJobRequest.parameters` must be a KilnImage `ImageRequest`; its size is taken from
/// the job (what the scheduler batched it by), not from the parameters, and the generation the
/// parameters start must take as many steps as the job counts (a hybrid's request names its steps
/// per band; its job counts them all).
// @unchecked Sendable: the generation table changes only under `lock`; the pipelines are `let` and
// called by one thread at a time (the scheduler's image lane).
public final class DiffusionExecutor: ImageExecutor, @unchecked Sendable {
    /// The image models, by the model id requests name them with.
    public let pipelines: [String: any SteppedImageModel]
    private let lock = NSLock()
    private var generations: [SequenceID: (pipeline: any SteppedImageModel, generation: any SteppedImageGeneration)] = [:]

    public init(pipelines: [String: any SteppedImageModel]) {
        self.pipelines = pipelines
    }

    /// Generations held now (started and not released).
    public var activeGenerationCount: Int { lock.withLock { generations.count } }

    public func startGeneration(_ id: SequenceID, request: ImageJobRequest) throws {
        guard let pipeline = pipelines[request.model] else {
            throw ServeError.invalidRequest("no image model named '\(request.model)'")
        }
        guard var image = request.parameters as? ImageRequest else {
            throw ServeError.executorFailed("image job \(id) carries no ImageRequest")
        }
        image.width = request.width
        image.height = request.height
        let generation: any SteppedImageGeneration
        do {
            generation = try pipeline.startGeneration(image)
        } catch ImageError.invalidRequest(let reason) {
            throw ServeError.invalidRequest(reason)
        }
        guard generation.stepCount == request.steps else {
            throw ServeError.executorFailed("image job \(id) counts \(request.steps) steps; its generation takes \(generation.stepCount)")
        }
        lock.withLock { generations[id] = (pipeline, generation) }
    }

    public func step(_ ids: [SequenceID]) throws {
        let entries = try ids.map { try entry($0) }
        guard let pipeline = entries.first?.pipeline else { return }
        guard entries.allSatisfy({ $0.pipeline === pipeline }) else {
            throw ServeError.invalidRequest("one denoising step cannot mix image models")
        }
        try pipeline.stepGenerations(entries.map(\.generation))
    }

    public func preview(_ id: SequenceID) throws -> RenderedImage {
        let (pipeline, generation) = try entry(id)
        return RenderedImage(try pipeline.previewImage(of: generation))
    }

    public func decode(_ id: SequenceID) throws -> RenderedImage {
        let (pipeline, generation) = try entry(id)
        return RenderedImage(try pipeline.image(of: generation))
    }

    public func releaseGeneration(_ id: SequenceID) {
        lock.withLock { generations[id] = nil }
    }

    private func entry(_ id: SequenceID) throws -> (pipeline: any SteppedImageModel, generation: any SteppedImageGeneration) {
        guard let found = lock.withLock({ generations[id] }) else {
            throw ServeError.executorFailed("image generation \(id) was never started")
        }
        return found
    }
}

extension RenderedImage {
    /// The pixels of a pipeline's image (its latents stay behind: no client sees them).
    init(_ image: GeneratedImage) {
        self.init(width: image.width, height: image.height, pixels: image.pixels)
    }
}
