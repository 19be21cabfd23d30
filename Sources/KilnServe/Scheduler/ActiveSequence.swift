/// The scheduler's private state of one admitted job. Touched only on the scheduler thread.
final class ActiveSequence {
    let job: Job
    /// The job's text request (what `job.work` holds).
    let request: GenerationRequest
    let promptLength: Int
    /// Prompt, then generated tokens. Survives preemption: it is what gets recomputed.
    private(set) var tokens: [TokenID]
    /// Leading tokens whose K/V is in the cache (position of the next token to run).
    var computedCount = 0
    /// Blocks for positions `0 ..< blockTable.count * blockSize`; empty while preempted.
    var blockTable: [KVBlockID] = []
    /// Leading blocks of `blockTable` already registered in (or deduplicated against) the prefix
    /// index; the next registration candidate is `blockTable[registeredBlockCount]`.
    var registeredBlockCount = 0
    /// The prefix-hash chain after the registered blocks; nil once a collision broke it.
    var chain: KVBlockPool.ChainLink?
    /// Prompt tokens served from the cache at first admission (what the client is told).
    var cachedPromptTokens = 0
    /// Whether the partial block at the end of the prompt was offered to the prefix cache as a
    /// prompt tail since the last admission.
    var promptTailConsidered = false
    /// Increases with every admission (re-admissions included): the larger, the younger.
    var admissionOrder: UInt64 = 0
    var lastTokenTime: Duration?
    /// Set once its terminal event went out; the scheduler then drops it from its lists.
    var hasEnded = false

    init(job: Job, request: GenerationRequest) {
        self.job = job
        self.request = request
        self.promptLength = request.promptTokens.count
        self.tokens = request.promptTokens
        tokens.reserveCapacity(promptLength + request.maxNewTokens)
    }

    var generatedCount: Int { tokens.count - promptLength }
    /// Tokens still to run before the next sample (1 when decoding).
    var pendingTokenCount: Int { tokens.count - computedCount }

    func append(_ token: TokenID) {
        tokens.append(token)
    }

    func usage() -> TokenUsage {
        TokenUsage(
            promptTokens: promptLength, cachedPromptTokens: cachedPromptTokens,
            completionTokens: generatedCount)
    }
}
