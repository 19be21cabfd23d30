import Foundation

/// Where a job is in its life. The last three are terminal: a job reaches exactly one of them,
/// once, and never leaves it.
public enum JobState: Sendable, Equatable {
    /// Waiting in the `JobQueue`.
    case queued
    /// Admitted by the scheduler. A running sequence that was preempted for lack of KV blocks
    /// stays `.running` while it waits to be recomputed.
    case running
    /// Ended normally with `.stop` or `.length` (never `.cancelled`: that is the state below).
    case finished(FinishReason)
    /// Ended with an error (deadline, executor failure, shutdown).
    case failed(ServeError)
    /// `cancel()` was called before the job ended.
    case cancelled

    public var isTerminal: Bool {
        switch self {
        case .queued, .running: return false
        case .finished, .failed, .cancelled: return true
        }
    }
}

/// What a job asks the engine to do. Each kind of work has its own executor protocol
/// (`BatchExecutor` for text, `ImageExecutor` for images, `EmbeddingExecutor` for embeddings).
public enum JobWork: Sendable {
    /// Generate tokens after a prompt.
    case text(GenerationRequest)
    /// Draw one image.
    case image(ImageJobRequest)
    /// Embed a request's inputs.
    case embedding(EmbeddingJobRequest)

    /// The kinds of work, for picking jobs out of the shared queue.
    public enum Kind: Sendable, Equatable {
        case text, image, embedding
    }

    public var kind: Kind {
        switch self {
        case .text: return .text
        case .image: return .image
        case .embedding: return .embedding
        }
    }

    /// Higher runs first; equal priorities run in submission order.
    public var priority: Int {
        switch self {
        case .text(let request): return request.priority
        case .image(let request): return request.priority
        case .embedding(let request): return request.priority
        }
    }

    /// How long the job may take from submission to its end (nil: no limit).
    public var timeout: Duration? {
        switch self {
        case .text(let request): return request.timeout
        case .image(let request): return request.timeout
        case .embedding(let request): return request.timeout
        }
    }

    /// The usage of a job that ends before it ran: its prompt, nothing cached, nothing generated.
    var usageBeforeRunning: TokenUsage {
        switch self {
        case .text(let request):
            return TokenUsage(promptTokens: request.promptTokens.count, cachedPromptTokens: 0, completionTokens: 0)
        case .image:
            return TokenUsage(promptTokens: 0, cachedPromptTokens: 0, completionTokens: 0)
        case .embedding(let request):
            return TokenUsage(promptTokens: request.tokenCount, cachedPromptTokens: 0, completionTokens: 0)
        }
    }
}

/// One request travelling through the queue and the scheduler.
///
/// Created by `Scheduler.submit` or `Scheduler.submitImage`. All members are safe to use from any
/// thread.
// @unchecked Sendable: the state, the stop flag and the handlers change only under `lock`; the rest is `let`.
public final class Job: @unchecked Sendable {
    /// Unique per scheduler; also the executor's `SequenceID`.
    public let id: SequenceID
    /// What the job asks for.
    public let work: JobWork
    /// Clock reading at submission.
    public let submittedAt: Duration
    /// Clock reading after which the job fails with `.deadlineExceeded`, if it has a timeout.
    public let deadline: Duration?

    private let lock = NSLock()
    private var currentState: JobState = .queued
    private var stopRequested = false
    /// Dropped after the terminal event, which breaks the usual cycle
    /// connection → job → handler → connection.
    private var eventHandler: JobEventHandler?
    /// Set by the scheduler at submission, before the job is shared; runs after the state became
    /// `.cancelled`. `wasQueued` tells whether the job was still in the queue at that moment.
    var cancellationHandler: ((Job, _ wasQueued: Bool) -> Void)?

    init(id: SequenceID, work: JobWork, submittedAt: Duration, eventHandler: @escaping JobEventHandler) {
        self.id = id
        self.work = work
        self.submittedAt = submittedAt
        self.deadline = work.timeout.map { submittedAt + $0 }
        self.eventHandler = eventHandler
    }

    /// The current state; may change right after it is read unless it is terminal.
    public var state: JobState {
        lock.withLock { currentState }
    }

    /// Whether `cancel()` won the race to end this job.
    public var isCancelled: Bool { state == .cancelled }
    /// Cancels the job from any thread, at any time; a no-op once the job has ended.
    ///
    /// A queued job leaves the queue at once and gets `.done(.cancelled)` on the calling thread.
    /// A running job stops at the scheduler's next iteration, when its KV blocks return to the
    /// pool and it gets `.done(.cancelled)` on the scheduler thread. One token event already in
    /// flight on the scheduler thread may still arrive after `cancel()` returns; the terminal
    /// event is always the last.
    public func cancel() {
        lock.lock()
        guard !currentState.isTerminal else {
            lock.unlock()
            return
        }
        let wasQueued = currentState == .queued
        currentState = .cancelled
        let handler = cancellationHandler
        lock.unlock()
        handler?(self, wasQueued)
    }

    /// Ends the job with finish reason `.stop`: the hook for stop strings, which only the API
    /// layer can detect. Called from inside the job's own `.token` handler it takes effect before
    /// anything else is generated, so that token is the last; called from another thread, at the
    /// scheduler's next iteration (a token in flight may still arrive). A queued job ends this way
    /// once admitted. A no-op after the job ended.
    public func requestStop() {
        lock.withLock { stopRequested = true }
    }

    /// Whether `requestStop()` was called.
    public var isStopRequested: Bool {
        lock.withLock { stopRequested }
    }

    // MARK: - Transitions, used by the queue owner and the scheduler

    /// `.queued → .running`; false if the job was cancelled meanwhile.
    func markRunning() -> Bool {
        lock.withLock {
            guard currentState == .queued else { return false }
            currentState = .running
            return true
        }
    }

    /// Moves a live job to `terminal`; returns false (and changes nothing) if the job already
    /// ended, in practice because it was cancelled.
    func markEnded(_ terminal: JobState) -> Bool {
        precondition(terminal.isTerminal, "markEnded needs a terminal state")
        return lock.withLock {
            guard !currentState.isTerminal else { return false }
            currentState = terminal
            return true
        }
    }

    /// Delivers an event; after a terminal one the handlers are released and nothing more is
    /// delivered.
    func emit(_ event: JobEvent) {
        lock.lock()
        let handler = eventHandler
        if event.isTerminal {
            eventHandler = nil
            cancellationHandler = nil
        }
        lock.unlock()
        handler?(event)
    }
}
