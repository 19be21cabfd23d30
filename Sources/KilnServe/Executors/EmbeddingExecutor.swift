/// The contract between the scheduler and an embedding engine. Called only from the scheduler
/// thread, never concurrently.
///
/// A batch of inputs goes through the model as one pass of several steps (an encoder's layers),
/// so that the scheduler can interleave a pass with text iterations a step or two at a time
/// instead of stalling every token stream for a whole pass.
///
/// Determinism: an input's vector depends only on its own tokens and model, never on what was
/// batched with it or on how the steps were spread over iterations.
public protocol EmbeddingExecutor: AnyObject {
    /// Starts a pass over `inputs` (token ids with the model's special tokens in place) of
    /// `model`. Throwing fails every job with an input in the batch: a
    /// `ServeError.invalidRequest` reaches the clients as a 400, anything else as a 500.
    func startPass(model: String, inputs: [[TokenID]]) throws -> any EmbeddingPass
}

/// One batch going through an embedding model, owned by the scheduler until it completes or is
/// dropped (dropping it releases its buffers).
public protocol EmbeddingPass: AnyObject {
    /// Steps the pass takes in all (at least 1).
    var stepCount: Int { get }
    /// Steps taken so far.
    var stepsDone: Int { get }
    /// Takes up to `steps` more steps.
    func advance(steps: Int) throws
    /// One vector per input, in order; only once every step was taken.
    func finish() throws -> [[Float]]
}
