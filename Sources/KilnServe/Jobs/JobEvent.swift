/// Why a sequence stopped producing tokens.
public enum FinishReason: String, Sendable, Equatable {
    /// A stop token was sampled, or the API layer called `Job.requestStop()` (e.g. a stop string).
    case stop
    /// `maxNewTokens` tokens were sampled.
    case length
    /// `Job.cancel()` was called (typically: the client went away).
    case cancelled
}

/// Token accounting of one job, as reported in the OpenAI `usage` object.
public struct TokenUsage: Sendable, Equatable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Prompt tokens whose KV came from the prefix cache at first admission instead of being
    /// computed (`usage.prompt_tokens_details.cached_tokens`).
    public var cachedPromptTokens: Int
    /// Tokens sampled, a stop token included.
    public var completionTokens: Int

    public init(promptTokens: Int, cachedPromptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.completionTokens = completionTokens
    }

    public var totalTokens: Int { promptTokens + completionTokens }
}

/// One sampled token delivered to the client.
public struct GeneratedToken: Sendable {
    /// The token id.
    public var id: TokenID
    /// 0 for the first generated token, then 1, 2, …
    public var index: Int
    /// Whatever the executor returned for logprobs (its own type), or nil if none was asked for.
    public var logprobs: (any Sendable)?

    public init(id: TokenID, index: Int, logprobs: (any Sendable)?) {
        self.id = id
        self.index = index
        self.logprobs = logprobs
    }
}

/// The last event of a job that ended without an error.
public struct JobCompletion: Sendable, Equatable {
    public var reason: FinishReason
    public var usage: TokenUsage
    /// The stop token that ended the sequence, when `reason == .stop` because of a stop token id.
    public var stopTokenID: TokenID?

    public init(reason: FinishReason, usage: TokenUsage, stopTokenID: TokenID? = nil) {
        self.reason = reason
        self.usage = usage
        self.stopTokenID = stopTokenID
    }
}

/// One denoising step of an image job, delivered after the step.
public struct ImageProgress: Sendable {
    /// Steps taken so far, from 1.
    public var step: Int
    public var totalSteps: Int
    /// A small preview (see `ImageJobRequest.previewInterval`), or nil at steps without one.
    public var preview: RenderedImage?

    public init(step: Int, totalSteps: Int, preview: RenderedImage?) {
        self.step = step
        self.totalSteps = totalSteps
        self.preview = preview
    }
}

/// What a job reports to its submitter.
///
/// A text job receives zero or more `.token` events, an image job zero or more `.imageProgress`
/// events; then every job receives exactly one terminal event — `.done` (text, or any cancelled
/// job), `.imageFinished` (image), `.embeddingsFinished` (embedding) or `.error` — after which
/// nothing more arrives.
public enum JobEvent: Sendable {
    case token(GeneratedToken)
    case imageProgress(ImageProgress)
    case imageFinished(RenderedImage)
    /// One vector per input of an embedding job, in order, and the tokens they took.
    case embeddingsFinished(vectors: [[Float]], usage: TokenUsage)
    case done(JobCompletion)
    case error(ServeError)

    /// Whether this is the job's last event.
    public var isTerminal: Bool {
        switch self {
        case .token, .imageProgress: return false
        case .imageFinished, .embeddingsFinished, .done, .error: return true
        }
    }
}

/// Receives a job's events.
///
/// Called on the scheduler thread, except the `.done(.cancelled)` of a job cancelled while it was
/// still queued, which is delivered on the thread that called `Job.cancel()`. Calls for one job
/// never overlap. The handler must return quickly and never block: hop to the connection's queue
/// to write. It may call `cancel()` or `requestStop()` on its own job; they take effect before the
/// scheduler emits anything else for that job.
public typealias JobEventHandler = @Sendable (JobEvent) -> Void
