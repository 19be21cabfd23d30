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

/// One generation request travelling through the queue and the scheduler.
///
/// Created by `Scheduler.submit`. All members are safe to use from any thread.
public final class Job: @unchecked Sendable {
    /// Unique per scheduler; also the executor's `SequenceID`.
    public let id: SequenceID
    /// The text request. For an image job only its `priority` and `timeout` count (its prompt is
    /// empty); the image request is `imageRequest`.
    public let request: GenerationRequest
    /// The image request of an image job; nil for a text job.
    public let imageRequest: ImageJobRequest?
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

    init(id: SequenceID, request: GenerationRequest, imageRequest: ImageJobRequest? = nil, submittedAt: Duration,
         eventHandler: @escaping JobEventHandler) {
        self.id = id
        self.request = request
        self.imageRequest = imageRequest
        self.submittedAt = submittedAt
        self.deadline = request.timeout.map { submittedAt + $0 }
        self.eventHandler = eventHandler
    }

    /// The current state; may change right after it is read unless it is terminal.
    public var state: JobState {
        lock.lock()
        defer { lock.unlock() }
        return currentState
    }

    /// Whether this job draws an image (else it generates text).
    public var isImage: Bool { imageRequest != nil }

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
        lock.lock()
        stopRequested = true
        lock.unlock()
    }

    /// Whether `requestStop()` was called.
    public var isStopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    // MARK: - Transitions, used by the queue owner and the scheduler

    /// `.queued → .running`; false if the job was cancelled meanwhile.
    func markRunning() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard currentState == .queued else { return false }
        currentState = .running
        return true
    }

    /// Moves a live job to `terminal`; returns false (and changes nothing) if the job already
    /// ended, in practice because it was cancelled.
    func markEnded(_ terminal: JobState) -> Bool {
        precondition(terminal.isTerminal, "markEnded needs a terminal state")
        lock.lock()
        defer { lock.unlock() }
        guard !currentState.isTerminal else { return false }
        currentState = terminal
        return true
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
