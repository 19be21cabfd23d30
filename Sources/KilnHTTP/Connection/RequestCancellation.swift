import Foundation

/// Why an in-flight request stopped being wanted.
public enum CancellationReason: Sendable, Equatable, CustomStringConvertible {
    /// The client closed or reset the connection (or half-closed it while waiting).
    case clientDisconnected
    /// The client stopped reading and output could not be sent within the send timeout, or the
    /// connection's output buffer overflowed.
    case sendTimedOut
    /// The server's shutdown grace period ran out.
    case serverShutdown

    public var description: String {
        switch self {
        case .clientDisconnected: return "client disconnected"
        case .sendTimedOut: return "send timed out"
        case .serverShutdown: return "server shut down"
        }
    }
}

/// The signal that a request's client went away, so that work done for it (a queued or running
/// inference job) can stop at once.
///
/// It is cancelled at most once, never after the response completed normally. Handlers
/// registered with ``onCancel(_:)`` run exactly once, on the connection's queue (or at once on the
/// registering thread when already cancelled); they must not block.
public final class RequestCancellation: @unchecked Sendable {
    private let lock: NSLock
    private var cancelledReason: CancellationReason?
    private var handlers: [@Sendable (CancellationReason) -> Void] = []
    private var completed = false

    public init() {
        lock = NSLock()
    }

    /// A cancellation guarded by a lock it shares with other state of the same request, made
    /// in the state that request already reached (cancelled with `reason`, or `completed`).
    init(lock: NSLock, reason: CancellationReason? = nil, completed: Bool = false) {
        self.lock = lock
        cancelledReason = reason
        self.completed = completed
    }

    /// Whether the request was cancelled.
    public var isCancelled: Bool { lock.withLock { cancelledReason != nil } }

    /// Why it was cancelled, if it was.
    public var reason: CancellationReason? { lock.withLock { cancelledReason } }

    /// Registers `handler` to run when the request is cancelled; runs it now if it already was.
    public func onCancel(_ handler: @escaping @Sendable (CancellationReason) -> Void) {
        let alreadyCancelled: CancellationReason? = lock.withLock {
            if let reason = cancelledReason { return reason }
            if !completed { handlers.append(handler) }
            return nil
        }
        if let alreadyCancelled { handler(alreadyCancelled) }
    }

    /// Cancels (first call wins) unless the exchange already completed.
    func cancel(_ reason: CancellationReason) {
        let toRun: [@Sendable (CancellationReason) -> Void] = lock.withLock {
            guard cancelledReason == nil, !completed else { return [] }
            cancelledReason = reason
            defer { handlers = [] }
            return handlers
        }
        for handler in toRun { handler(reason) }
    }

    /// Marks the exchange finished normally: later disconnects no longer cancel it.
    func complete() {
        lock.withLock {
            completed = true
            handlers = []
        }
    }
}
