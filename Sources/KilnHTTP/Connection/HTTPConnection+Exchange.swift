import Foundation

extension HTTPConnection {
    /// A request whose response is not complete yet.
    ///
    /// Its ``RequestCancellation`` is made only when someone asks for it (a handler that watches
    /// for the client going away, a stream): most requests are answered at once without, and
    /// not making it saves an allocation per request. Until then the exchange keeps the
    /// cancellation's state itself, and hands it over when the object is made.
    final class Exchange: @unchecked Sendable {
        enum Phase {
            case awaitingResponse
            case streaming(chunked: Bool)
            case done
        }
        let id: Int
        let head: HTTPRequestHead
        let requestBodyBytes: Int
        let startTime: UInt64
        /// Guards the responder's state and the cancellation: the connection's exchange lock.
        let lock: NSLock
        let wantsKeepAlive: Bool
        var phase: Phase = .awaitingResponse
        var status = 0
        var responseBodyBytes = 0
        var route = "unmatched"
        var keepsAliveAfterStream = false
        var wasStreamed = false
        // Under `lock`: handlers may ask for the cancellation from any thread.
        private var cancellationObject: RequestCancellation?
        private var cancelledReason: CancellationReason?
        private var completed = false

        init(
            id: Int, head: HTTPRequestHead, requestBodyBytes: Int, startTime: UInt64, wantsKeepAlive: Bool,
            lock: NSLock
        ) {
            self.id = id
            self.lock = lock
            self.head = head
            self.requestBodyBytes = requestBodyBytes
            self.startTime = startTime
            self.wantsKeepAlive = wantsKeepAlive
        }

        var isHead: Bool { head.method == "HEAD" }

        /// The request's cancellation signal, made on first use.
        var cancellation: RequestCancellation {
            lock.withLock {
                if let cancellationObject { return cancellationObject }
                let made = RequestCancellation(lock: lock, reason: cancelledReason, completed: completed)
                cancellationObject = made
                return made
            }
        }

        /// Why the request was cancelled, if it was.
        var cancellationReason: CancellationReason? { lock.withLock { cancelledReason } }

        /// Cancels (first call wins) unless the exchange already completed; runs the handlers
        /// registered on the cancellation, if it was made.
        func cancel(_ reason: CancellationReason) {
            let object: RequestCancellation? = lock.withLock {
                if cancelledReason == nil && !completed { cancelledReason = reason }
                return cancellationObject
            }
            object?.cancel(reason)
        }

        /// Marks the exchange finished normally: later disconnects no longer cancel it.
        func complete() {
            let object: RequestCancellation? = lock.withLock {
                completed = true
                return cancellationObject
            }
            object?.complete()
        }
    }
}
