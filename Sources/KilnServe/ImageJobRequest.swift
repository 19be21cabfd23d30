import KilnImage

/// What a client asks the scheduler to draw: one image. Built by the API layer from a validated
/// request; a request for n images becomes n jobs (with n seeds), which the scheduler batches.
public struct ImageJobRequest: Sendable {
    /// Which of the image executor's pipelines runs it.
    public var model: String
    /// The generation itself. `width` and `height` must be set: they decide which jobs share a
    /// denoiser call.
    public var image: ImageRequest
    /// Send a preview every this many steps (never after the last one); 0: no previews.
    public var previewInterval: Int
    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int
    /// How long the job may take from submission to its image (nil: no limit).
    public var timeout: Duration?

    public init(model: String, image: ImageRequest, previewInterval: Int = 0, priority: Int = 0, timeout: Duration? = nil) {
        self.model = model
        self.image = image
        self.previewInterval = previewInterval
        self.priority = priority
        self.timeout = timeout
    }

    /// Jobs with equal keys may advance together in one denoiser call.
    public var batchKey: ImageBatchKey {
        ImageBatchKey(model: model, width: image.width ?? 0, height: image.height ?? 0, steps: image.steps)
    }
}

/// Same model, size and step count: the jobs the scheduler batches together.
public struct ImageBatchKey: Hashable, Sendable, CustomStringConvertible {
    public var model: String
    public var width: Int
    public var height: Int
    public var steps: Int

    public var description: String { "\(model) \(width)x\(height) \(steps) steps" }
}

/// The contract between the scheduler and a diffusion engine. Every call for a generation comes
/// from one thread at a time (the scheduler's image lane), never two calls at once.
///
/// Determinism: a generation's steps and image depend only on its own request, never on what was
/// batched with it.
public protocol ImageExecutor: AnyObject {
    /// Starts generation `id`: text encoding and starting noise. Throws for a request it cannot run.
    func startGeneration(_ id: SequenceID, request: ImageJobRequest) throws
    /// Advances every listed generation by one step in ONE batched denoiser call. All were
    /// started with the same `ImageBatchKey` and none is finished. Throwing fails them all.
    func step(_ ids: [SequenceID]) throws
    /// A small, cheap preview of generation `id` as it stands.
    func preview(_ id: SequenceID) throws -> GeneratedImage
    /// The image of a generation that has taken all its steps.
    func decode(_ id: SequenceID) throws -> GeneratedImage
    /// Drops the generation's state (finished, failed or cancelled). Called at most once per id.
    func releaseGeneration(_ id: SequenceID)
}
