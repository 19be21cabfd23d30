/// A token id of the model's vocabulary. The scheduler never interprets it beyond equality.
public typealias TokenID = Int32

/// The index of one block in the KV block pool (`0 ..< KVBlockPool.blockCount`).
public typealias KVBlockID = Int32

/// Identifies one generation sequence for the lifetime of its job; equal to the job's id.
public typealias SequenceID = UInt64

/// What a client asks the scheduler to generate. Built by the API layer from a validated request.
///
/// The scheduler is model-agnostic: it knows token ids, lengths and stop ids; everything about
/// how a token is chosen lives in `sampling`, an opaque value it hands to the executor untouched.
public struct GenerationRequest: Sendable {
    /// The tokenized prompt (chat template already applied). Must not be empty.
    public var promptTokens: [TokenID]
    /// The most tokens to sample, stop tokens included. At least 1.
    public var maxNewTokens: Int
    /// Sampling any of these ends the sequence with finish reason `.stop`; the stop token is
    /// counted in `completionTokens` but not delivered as a `.token` event.
    /// Stop *strings* are the API layer's business: it calls `Job.requestStop()` when it sees one.
    public var stopTokenIDs: Set<TokenID>
    /// Executor-defined sampling parameters (temperature, seed, penalties, logprobs request, …),
    /// passed through to `ExecutorSequenceWork.sampling` on every step.
    public var sampling: any Sendable
    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int
    /// How long the job may take from submission to its last token. A job still queued or
    /// running when it expires ends with `ServeError.deadlineExceeded`. `nil` means no limit.
    public var timeout: Duration?

    public init(
        promptTokens: [TokenID],
        maxNewTokens: Int,
        stopTokenIDs: Set<TokenID> = [],
        sampling: any Sendable = NoSamplingParameters(),
        priority: Int = 0,
        timeout: Duration? = nil
    ) {
        self.promptTokens = promptTokens
        self.maxNewTokens = maxNewTokens
        self.stopTokenIDs = stopTokenIDs
        self.sampling = sampling
        self.priority = priority
        self.timeout = timeout
    }
}

/// A placeholder for executors that take no sampling parameters (e.g. greedy test executors).
public struct NoSamplingParameters: Sendable, Equatable {
    public init() {}
}
