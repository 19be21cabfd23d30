/// One image of a `GANPipeline` before and after its single step: the latent its seed drew, the
/// caption's conditioning vector, and, once stepped, the image in [-1, 1].
///
/// Not thread-safe: one owner (the engine loop) drives it.
public final class GANGeneration: SteppedImageGeneration, @unchecked Sendable {
    public let request: ImageRequest
    /// z [latentSize].
    public let latent: [Float]
    /// The caption's conditioning vector [conditionSize] (`GANPipeline.condition`).
    public let condition: [Float]
    /// The generator's output [3, size, size] in [-1, 1], after the step.
    public internal(set) var output: FeatureMap?

    init(request: ImageRequest, latent: [Float], condition: [Float]) {
        self.request = request
        self.latent = latent
        self.condition = condition
    }

    public var stepIndex: Int { output == nil ? 0 : 1 }
    public var stepCount: Int { 1 }
}
