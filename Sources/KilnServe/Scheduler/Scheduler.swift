import Foundation

/// Continuous batching for text generation: the one loop that owns the executor and the KV pool.
///
/// The API layer calls `submit` (any thread) and receives the job's events through its handler;
/// `Job.cancel()` withdraws it. The scheduler thread (`start()`) runs iterations back to back
/// while there is work and sleeps on a condition when there is none. Each iteration:
/// 1. ends cancelled, stopped and expired sequences, returning their blocks to the pool at once;
/// 2. admits waiting work (preempted sequences first, then the queue by priority and arrival)
///    while the batch limit, the token budget and the KV pool allow;
/// 3. gives each running sequence the blocks its next tokens need, preempting the youngest
///    (lowest priority first) when even evicting cached blocks cannot supply one;
/// 4. runs ONE executor call: one token per decoding sequence, then prefill chunks sharing what
///    is left of the token budget, oldest first;
/// 5. registers newly filled blocks in the prefix cache, delivers sampled tokens, and ends
///    sequences on stop tokens, `maxNewTokens` or a stop request.
///
/// Tests may instead drive `runIteration()` by hand with a `ManualClock`.
// @unchecked Sendable: iteration state is touched only under `iterationLock`, the lifecycle and thread
// fields only under `stateLock`, and the queue and recorder lock themselves; the rest is `let`.
public final class Scheduler: @unchecked Sendable {
    public let settings: SchedulerSettings
    /// The waiting room; its lock is independent of the scheduler's.
    public let queue: JobQueue

    let executor: BatchExecutor
    /// The diffusion engine, if image jobs are served; called only from the image lane, or from
    /// the scheduler thread while the lane is idle.
    let imageExecutor: ImageExecutor?
    let clock: ServeClock
    let recorder: SchedulerMetricsRecorder

    // Iteration state: only touched while holding `iterationLock`.
    let iterationLock = NSLock()
    let pool: KVBlockPool
    /// Admitted sequences holding blocks, oldest admission first.
    var running: [ActiveSequence] = []
    /// Preempted sequences waiting to be recomputed, in resume order; they hold no blocks.
    var preempted: [ActiveSequence] = []
    var nextAdmissionOrder: UInt64 = 0
    var batchesRun: UInt64 = 0
    /// This iteration's plan, parallel arrays reused across iterations.
    var scheduledSequences: [ActiveSequence] = []
    var scheduledCounts: [Int] = []
    /// Admitted image jobs, in admission order.
    var runningImages: [ActiveImageGeneration] = []
    /// The embedding engine, if embedding jobs are served; called only from the scheduler thread.
    let embeddingExecutor: EmbeddingExecutor?
    /// Admitted embedding jobs, in admission order.
    var runningEmbeddings: [ActiveEmbedding] = []
    /// The embedding pass under way, if any.
    var embeddingPass: EmbeddingPassInFlight?
    /// The lane turn launched and not yet collected.
    var imageUnit: ImageWorkUnit?
    /// Counts lane turns; orders generations by when they last stepped.
    var imageStepOrder: UInt64 = 0
    /// Runs image turns (set up in `init`).
    private(set) var imageLane: ImageLane!
    /// Where the compute-sharing policy's thread shares go (nil: the engines use every core).
    let threadBudget: ThreadBudget?
    /// The shares last given to `threadBudget` (nil: none yet).
    var appliedThreadShares: ThreadShares?

    // Submission state: guarded by `stateLock`.
    private let stateLock = NSLock()
    private var nextJobID: SequenceID = 1
    private var lifecycle = Lifecycle.accepting

    // Thread control: guarded by `wakeCondition`.
    private let wakeCondition = NSCondition()
    private var wakePending = false
    private var stopRequested = false
    private var thread: Thread?
    /// The thread inside `step()` right now, if any (to detect `stop()` from an event handler).
    private var iteratingThread: Thread?
    /// Entered when the loop thread starts, left when it has torn down.
    private let loopRunning = DispatchGroup()

    private enum Lifecycle { case accepting, draining, stopped }

    /// How an iteration went, for the thread loop.
    enum IterationOutcome { case progressed, idle, stalled }

    /// - Parameters:
    ///   - executor: the engine; called only from the scheduler thread.
    ///   - imageExecutor: the diffusion engine for image jobs (nil: image jobs are refused).
    ///   - embeddingExecutor: the embedding engine (nil: embedding jobs are refused).
    ///   - threadBudget: the engines' worker pools, given their thread shares under
    ///     `settings.computeSharing` (nil: the engines use every core whatever else runs).
    ///   - clock: time source for deadlines and latency metrics.
    ///   - hashFunction: names full blocks in the prefix cache (injectable to force collisions).
    ///   - observer: receives single latency observations for histograms.
    public init(
        settings: SchedulerSettings = SchedulerSettings(),
        executor: BatchExecutor,
        imageExecutor: ImageExecutor? = nil,
        embeddingExecutor: EmbeddingExecutor? = nil,
        threadBudget: ThreadBudget? = nil,
        clock: ServeClock = SystemClock(),
        hashFunction: BlockHashFunction = .fnv1a,
        observer: SchedulerObserver? = nil
    ) throws(ServeError) {
        try settings.validate()
        self.settings = settings
        self.executor = executor
        self.imageExecutor = imageExecutor
        self.embeddingExecutor = embeddingExecutor
        self.threadBudget = threadBudget
        self.clock = clock
        self.queue = JobQueue(
            capacity: settings.maxQueuedJobs,
            retryAfterSeconds: settings.queueFullRetryAfterSeconds)
        self.pool = KVBlockPool(
            blockCount: settings.kvBlockCount, blockSize: settings.kvBlockSize,
            hashFunction: hashFunction)
        self.recorder = SchedulerMetricsRecorder(observer: observer, window: settings.throughputWindow)
        scheduledSequences.reserveCapacity(settings.maxBatchSequences)
        scheduledCounts.reserveCapacity(settings.maxBatchSequences)
        recorder.update { metrics in
            metrics.kvBlocksTotal = settings.kvBlockCount
            metrics.kvBlocksFree = settings.kvBlockCount
        }
        imageLane = ImageLane(overlaps: settings.imageStepsOverlapText) { [weak self] in self?.wake() }
    }

    // MARK: - Submitting

    /// Validates a request and queues it as a new job; thread-safe.
    ///
    /// - Parameter onEvent: receives the job's events (see `JobEventHandler` for the threading
    ///   rules); it may be called before `submit` returns.
    /// - Throws: `.queueFull` (HTTP 429), `.shuttingDown` (503), `.invalidRequest` or
    ///   `.exceedsKVCapacity` (400). Nothing is queued then and `onEvent` is never called.
    public func submit(
        _ request: GenerationRequest,
        onEvent: @escaping JobEventHandler
    ) throws(ServeError) -> Job {
        try validateRecordingRejection(request)
        return try enqueue(.text(request), onEvent: onEvent)
    }

    private func validateRecordingRejection(_ request: GenerationRequest) throws(ServeError) {
        do throws(ServeError) {
            try validate(request)
        } catch {
            recorder.update { $0.jobsRejected += 1 }
            throw error
        }
    }

    /// Creates a job and queues it (text or image).
    func enqueue(_ work: JobWork, onEvent: @escaping JobEventHandler) throws(ServeError) -> Job {
        let job: Job
        do throws(ServeError) {
            if let timeout = work.timeout, timeout <= .zero {
                throw ServeError.invalidRequest("the timeout must be positive (got \(timeout))")
            }
            stateLock.lock()
            guard lifecycle == .accepting else {
                stateLock.unlock()
                throw ServeError.shuttingDown
            }
            let id = nextJobID
            nextJobID += 1
            stateLock.unlock()
            job = Job(id: id, work: work, submittedAt: clock.now(), eventHandler: onEvent)
            job.cancellationHandler = { [weak self] job, wasQueued in
                self?.handleCancellation(of: job, wasQueued: wasQueued)
            }
            try queue.enqueue(job)
        } catch {
            recorder.update { $0.jobsRejected += 1 }
            throw error
        }
        recorder.update { $0.jobsSubmitted += 1 }
        wake()
        return job
    }

    private func validate(_ request: GenerationRequest) throws(ServeError) {
        guard !request.promptTokens.isEmpty else { throw .invalidRequest("the prompt is empty") }
        if let timeout = request.timeout, timeout <= .zero {
            throw .invalidRequest("the timeout must be positive (got \(timeout))")
        }
        guard request.maxNewTokens >= 1 else {
            throw .invalidRequest("maxNewTokens must be at least 1 (got \(request.maxNewTokens))")
        }
        let capacity = settings.kvCapacityTokens
        // Alone in the pool, any admitted sequence must be able to reach its maximum length,
        // so that preemption always ends with someone making progress.
        guard request.promptTokens.count <= capacity,
            request.maxNewTokens <= capacity - request.promptTokens.count
        else {
            let required = request.promptTokens.count.addingReportingOverflow(request.maxNewTokens)
            throw .exceedsKVCapacity(
                requiredTokens: required.overflow ? Int.max : required.partialValue,
                capacityTokens: capacity)
        }
    }

    private func handleCancellation(of job: Job, wasQueued: Bool) {
        if wasQueued, queue.remove(job) {
            // Never admitted: the scheduler will not see it again, so it ends here.
            deliverEnd(of: job, outcome: .cancelled, usage: job.work.usageBeforeRunning)
        } else {
            wake()
        }
    }

    // MARK: - Lifecycle

    /// Starts the scheduler thread; idempotent. Do not call `runIteration()` by hand afterwards.
    public func start() {
        wakeCondition.lock()
        defer { wakeCondition.unlock() }
        guard thread == nil, !stopRequested else { return }
        let loop = Thread { [self] in
            runLoop()
        }
        loop.name = "kiln-scheduler"
        loop.qualityOfService = .userInitiated
        thread = loop
        loopRunning.enter()
        loop.start()
    }

    /// Refuses new submissions with `.shuttingDown` while queued and running jobs go on.
    public func beginDraining() {
        stateLock.lock()
        if lifecycle == .accepting { lifecycle = .draining }
        stateLock.unlock()
    }

    /// Stops the scheduler: refuses new work, ends the thread, and fails every job still queued,
    /// preempted or running with `.shuttingDown` (their blocks return to the pool). Waits until
    /// that is done, except when called from an event handler (inside an iteration): then the
    /// teardown happens as soon as the current iteration ends. Idempotent.
    public func stop() {
        stateLock.lock()
        lifecycle = .stopped
        stateLock.unlock()
        wakeCondition.lock()
        stopRequested = true
        let loop = thread
        let calledFromIteration = iteratingThread === Thread.current
        wakeCondition.signal()
        wakeCondition.unlock()
        if calledFromIteration { return }
        if loop != nil {
            loopRunning.wait()
        } else {
            iterationLock.lock()
            tearDownLocked()
            iterationLock.unlock()
        }
    }

    private func runLoop() {
        while true {
            wakeCondition.lock()
            let stopping = stopRequested
            wakeCondition.unlock()
            if stopping { break }
            let outcome = step()
            guard outcome != .progressed else { continue }
            wakeCondition.lock()
            if outcome == .idle {
                while !wakePending && !stopRequested { wakeCondition.wait() }
            } else if !wakePending && !stopRequested {
                // Work exists but nothing could move (should not happen): poll gently, never spin.
                _ = wakeCondition.wait(until: Date(timeIntervalSinceNow: 0.01))
            }
            wakePending = false
            wakeCondition.unlock()
        }
        iterationLock.lock()
        tearDownLocked()
        iterationLock.unlock()
        // The thread's closure holds the scheduler: forget the thread, or the two keep each
        // other (and the engine behind the executor) alive after `stop()`.
        wakeCondition.lock()
        thread = nil
        wakeCondition.unlock()
        loopRunning.leave()
    }

    func wake() {
        wakeCondition.lock()
        wakePending = true
        wakeCondition.signal()
        wakeCondition.unlock()
    }

    /// Marks the calling thread as the one inside `step()`.
    func enterIteration() {
        wakeCondition.lock()
        iteratingThread = Thread.current
        wakeCondition.unlock()
    }

    /// Ends an iteration; returns true when a `stop()` without loop thread awaits teardown.
    func leaveIteration() -> Bool {
        wakeCondition.lock()
        defer { wakeCondition.unlock() }
        iteratingThread = nil
        return stopRequested && thread == nil
    }

    /// Fails everything left with `.shuttingDown`; `iterationLock` must be held.
    func tearDownLocked() {
        tearDownImagesLocked()
        defer { updateThreadShares() }
        tearDownEmbeddingsLocked()
        for sequence in running + preempted {
            endSequence(sequence, outcome: .failed(.shuttingDown))
        }
        running.removeAll()
        preempted.removeAll()
        for job in queue.removeAll(where: { _ in true }) {
            deliverEnd(of: job, outcome: .failed(.shuttingDown), usage: job.work.usageBeforeRunning)
        }
        publishGauges()
    }

    // MARK: - Driving and inspecting

    /// Runs one scheduler iteration on the calling thread; returns whether anything happened
    /// (a batch ran, or jobs were admitted or ended). For tests and callers that drive the loop
    /// themselves instead of `start()`.
    @discardableResult
    public func runIteration() -> Bool {
        step() == .progressed
    }

    /// The current metrics; thread-safe.
    public func metrics() -> SchedulerMetrics {
        var snapshot = recorder.snapshot()
        snapshot.queuedJobs = queue.count
        snapshot.queuedImageJobs = queue.count(where: { $0.work.kind == .image })
        snapshot.queuedEmbeddingJobs = queue.count(where: { $0.work.kind == .embedding })
        return snapshot
    }

    /// Describes every broken invariant of the pool and the block tables (empty when all hold):
    /// each block's reference count equals the number of running tables that hold it, preempted
    /// sequences hold nothing, tables cover what was computed. Thread-safe; O(pool + tables).
    public func invariantViolations() -> [String] {
        iterationLock.lock()
        defer { iterationLock.unlock() }
        var problems = pool.invariantViolations()
        var references = Array(repeating: 0, count: pool.blockCount)
        for sequence in running {
            for block in sequence.blockTable { references[Int(block)] += 1 }
            if sequence.computedCount > sequence.blockTable.count * pool.blockSize {
                problems.append("sequence \(sequence.job.id) computed beyond its blocks")
            }
            if sequence.blockTable.count > (sequence.tokens.count + pool.blockSize - 1) / pool.blockSize {
                problems.append("sequence \(sequence.job.id) holds more blocks than its tokens need")
            }
        }
        for sequence in preempted where !sequence.blockTable.isEmpty {
            problems.append("preempted sequence \(sequence.job.id) still holds blocks")
        }
        for block in 0..<pool.blockCount where references[block] != pool.refCount(of: KVBlockID(block)) {
            problems.append("block \(block): refCount \(pool.refCount(of: KVBlockID(block))) but \(references[block]) table references")
        }
        return problems
    }
}
