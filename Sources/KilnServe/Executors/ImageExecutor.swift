/// An image handed back by an `ImageExecutor`: planar RGB `pixels` [3, height, width] in [0, 1].
public struct RenderedImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == 3 * width * height, "an RGB image needs 3 × width × height values")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// The contract between the scheduler and an image engine. Every call for a generation comes
/// from one thread at a time (the scheduler's image lane), never two calls at once.
///
/// Determinism: a generation's steps and image depend only on its own request, never on what was
/// batched with it.
public protocol ImageExecutor: AnyObject {
    /// Starts generation `id`: text encoding and starting noise. Throws for a request it cannot
    /// run; a `ServeError.invalidRequest` reaches the client as a 400, anything else as a 500.
    func startGeneration(_ id: SequenceID, request: ImageJobRequest) throws
    /// Advances every listed generation by one step in ONE batched denoiser call. All were
    /// started with the same `ImageBatchKey` and none is finished. Throwing fails them all.
    func step(_ ids: [SequenceID]) throws
    /// A small, cheap preview of generation `id` as it stands.
    func preview(_ id: SequenceID) throws -> RenderedImage
    /// The image of a generation that has taken all its steps.
    func decode(_ id: SequenceID) throws -> RenderedImage
    /// Drops the generation's state (finished, failed or cancelled). Called at most once per id.
    func releaseGeneration(_ id: SequenceID)
}
