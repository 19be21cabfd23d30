/// The scheduler's limits. Every one has a default; `validate()` rejects nonsense before use.
public struct SchedulerSettings: Sendable, Equatable {
    /// Jobs that may wait in the queue; one more gets `ServeError.queueFull` (HTTP 429).
    public var maxQueuedJobs: Int = 256
    /// Seconds suggested in `Retry-After` when the queue is full.
    public var queueFullRetryAfterSeconds: Int = 1
    /// Sequences run together in one batch (decode and prefill).
    public var maxBatchSequences: Int = 16
    /// Tokens one iteration may run, summed over the batch: every decoding sequence takes one,
    /// prefill chunks share the rest. Bounds an iteration's latency, so a long prompt is spread
    /// over several iterations instead of stalling everyone's stream. At least `maxBatchSequences`.
    public var tokenBudgetPerIteration: Int = 256
    /// Blocks in the KV pool; the engine preallocates `kvBlockCount * kvBlockSize` token slots.
    public var kvBlockCount: Int = 1024
    /// Token slots per KV block; also the granularity of prefix caching.
    public var kvBlockSize: Int = 16
    /// Blocks left unallocated when admitting a job while others run, so that running sequences
    /// can grow a little before anyone must be preempted. Ignored when nothing runs.
    public var admissionReserveBlocks: Int = 8
    /// Window over which `SchedulerMetrics.tokensPerSecond` is measured.
    public var throughputWindow: Duration = .seconds(10)
    /// Image generations advanced together by one denoiser call (same model, size and steps).
    public var maxImageBatch: Int = 4
    /// Image jobs admitted at once; the rest wait in the queue. Admitted jobs of different sizes
    /// take turns, one denoising step each.
    public var maxRunningImages: Int = 8
    /// Whether denoising steps run on a thread of their own, beside text iterations (true), or in
    /// the scheduler loop between text iterations (false). Overlapping keeps token streams moving
    /// while a step runs; in the loop, every token waits for the step of its iteration.
    public var imageStepsOverlapText: Bool = true
    /// How the cores are shared while text and overlapping image steps run at once (applied
    /// through the scheduler's `ThreadBudget`, if it has one).
    public var computeSharing: ComputeSharing = .textFirst
    /// Under `.textFirst`, the threads image kernels keep to while text runs; 0 = half the cores
    /// (at least one). Text gets the cores left (at least one).
    public var imageThreadsBesideText: Int = 0
    /// Embedding jobs admitted at once; the rest wait in the queue.
    public var maxRunningEmbeddingJobs: Int = 64
    /// Tokens one embedding pass may hold, summed over its inputs, while no text runs (an input
    /// longer than this runs alone): bounds a pass's memory.
    public var embeddingPassTokens: Int = 512
    /// The same while text sequences run: a small pass, whose vectors come back sooner.
    public var embeddingPassTokensBesideText: Int = 64
    /// Work an embedding pass does per iteration while no text runs, in token rows (one token
    /// through one third of an encoder layer): bounds how long text that arrives waits for it.
    public var embeddingRowsPerIteration: Int = 1536
    /// The same while text sequences run: a small slice per iteration, so that each token's
    /// latency grows by little.
    public var embeddingRowsPerIterationBesideText: Int = 16

    public init() {}

    /// Tokens the whole KV pool can hold.
    public var kvCapacityTokens: Int { kvBlockCount * kvBlockSize }

    public func validate() throws(ServeError) {
        func require(_ condition: Bool, _ message: String) throws(ServeError) {
            if !condition { throw .invalidSettings(message) }
        }
        try require(maxQueuedJobs >= 1, "maxQueuedJobs must be >= 1 (got \(maxQueuedJobs))")
        try require(
            queueFullRetryAfterSeconds >= 1,
            "queueFullRetryAfterSeconds must be >= 1 (got \(queueFullRetryAfterSeconds))")
        try require(maxBatchSequences >= 1, "maxBatchSequences must be >= 1 (got \(maxBatchSequences))")
        try require(
            tokenBudgetPerIteration >= maxBatchSequences,
            "tokenBudgetPerIteration (\(tokenBudgetPerIteration)) must be >= maxBatchSequences (\(maxBatchSequences))")
        try require(
            kvBlockSize >= 1 && kvBlockSize <= 4096,
            "kvBlockSize must be in 1...4096 (got \(kvBlockSize))")
        try require(
            kvBlockCount >= 1 && kvBlockCount <= 1 << 24,
            "kvBlockCount must be in 1...\(1 << 24) (got \(kvBlockCount))")
        try require(
            admissionReserveBlocks >= 0 && admissionReserveBlocks < kvBlockCount,
            "admissionReserveBlocks must be in 0..<kvBlockCount (got \(admissionReserveBlocks))")
        try require(throughputWindow > .zero, "throughputWindow must be positive")
        try require(maxImageBatch >= 1 && maxImageBatch <= 256, "maxImageBatch must be in 1...256 (got \(maxImageBatch))")
        try require(
            maxRunningImages >= 1 && maxRunningImages <= 4096,
            "maxRunningImages must be in 1...4096 (got \(maxRunningImages))")
        try require(
            imageThreadsBesideText >= 0 && imageThreadsBesideText <= 4096,
            "imageThreadsBesideText must be in 0...4096 (got \(imageThreadsBesideText))")
        try require(
            maxRunningEmbeddingJobs >= 1 && maxRunningEmbeddingJobs <= 65_536,
            "maxRunningEmbeddingJobs must be in 1...65536 (got \(maxRunningEmbeddingJobs))")
        try require(embeddingPassTokens >= 1, "embeddingPassTokens must be >= 1 (got \(embeddingPassTokens))")
        try require(
            embeddingPassTokensBesideText >= 1,
            "embeddingPassTokensBesideText must be >= 1 (got \(embeddingPassTokensBesideText))")
        try require(embeddingRowsPerIteration >= 1, "embeddingRowsPerIteration must be >= 1 (got \(embeddingRowsPerIteration))")
        try require(
            embeddingRowsPerIterationBesideText >= 1,
            "embeddingRowsPerIterationBesideText must be >= 1 (got \(embeddingRowsPerIterationBesideText))")
    }
}
