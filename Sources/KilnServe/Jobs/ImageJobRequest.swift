/// What a client asks the scheduler to draw: one image. Built by the API layer from a validated
/// request; a request for n images becomes n jobs (with n seeds), which the scheduler batches.
///
/// The scheduler knows only what decides batching and progress (model, size, step count); how the
/// image is drawn (prompt, seed, guidance, sampler, …) is `parameters`, an engine-defined value it
/// hands to the `ImageExecutor` untouched, as `GenerationRequest.sampling` is for text.
public struct ImageJobRequest: Sendable {
    /// Which of the image executor's pipelines runs it.
    public var model: String
    /// The image's size in pixels; jobs batch only with jobs of the same size.
    public var width: Int
    public var height: Int
    /// Denoising steps (or 1 for a one-step generator); progress is reported per step.
    public var steps: Int
    /// Executor-defined description of the image, passed to `ImageExecutor.startGeneration`.
    public var parameters: any Sendable
    /// Send a preview every this many steps (never after the last one); 0: no previews.
    public var previewInterval: Int
    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int
    /// How long the job may take from submission to its image (nil: no limit).
    public var timeout: Duration?

    public init(
        model: String, width: Int, height: Int, steps: Int, parameters: any Sendable,
        previewInterval: Int = 0, priority: Int = 0, timeout: Duration? = nil
    ) {
        self.model = model
        self.width = width
        self.height = height
        self.steps = steps
        self.parameters = parameters
        self.previewInterval = previewInterval
        self.priority = priority
        self.timeout = timeout
    }

    /// Jobs with equal keys may advance together in one denoiser call.
    public var batchKey: ImageBatchKey {
        ImageBatchKey(model: model, width: width, height: height, steps: steps)
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
