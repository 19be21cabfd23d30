/// What a client asks the scheduler to embed: the inputs of one request, each a list of token ids
/// with the model's special tokens already in place. Built by the API layer from a validated
/// request. The scheduler batches inputs of the same model across requests; each input's vector
/// depends only on that input.
public struct EmbeddingJobRequest: Sendable {
    /// Which of the embedding executor's models runs it.
    public var model: String
    /// One token list per input; none empty.
    public var inputs: [[TokenID]]
    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int
    /// How long the job may take from submission to its vectors (nil: no limit).
    public var timeout: Duration?

    public init(model: String, inputs: [[TokenID]], priority: Int = 0, timeout: Duration? = nil) {
        self.model = model
        self.inputs = inputs
        self.priority = priority
        self.timeout = timeout
    }

    /// Tokens over every input (the request's `usage.prompt_tokens`).
    public var tokenCount: Int { inputs.reduce(0) { $0 + $1.count } }
}
