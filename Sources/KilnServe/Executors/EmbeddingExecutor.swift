/// The contract between the scheduler and an embedding engine. Called only from the scheduler
/// thread, never concurrently.
///
/// A batch of inputs goes through the model as one pass, run in slices of bounded work, so that
/// the scheduler can interleave a pass with text iterations a slice at a time instead of stalling
/// every token stream for a whole pass.
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
    /// Whether all of the pass has run (`finish` may be called).
    var isComplete: Bool { get }
    /// Runs about `tokenRows` units of work: one unit is one token through one part of one layer
    /// (an encoder layer visits each token three times). Always some progress; the rest of the
    /// pass with `.max`.
    func advance(tokenRows: Int) throws
    /// One vector per input, in order; only once the pass is complete.
    func finish() throws -> [[Float]]
}
