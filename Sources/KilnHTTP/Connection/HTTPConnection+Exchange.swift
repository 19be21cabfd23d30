import Foundation

extension HTTPConnection {
    /// A request whose response is not complete yet.
    ///
    /// A connection reuses one exchange (with its ``HTTPResponder``) for request after request, as
    /// long as nothing outside the connection keeps a reference to them past a handler's call (see
    /// ``HTTPConnection/recycle(_:)``): most requests are answered at once, and making and freeing
    /// both objects was about a tenth of a request's instructions. ``begin(head:requestID:requestBodyBytes:startTime:wantsKeepAlive:)``
    /// puts a reused exchange back to the state of a new one.
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
        /// Guards the responder's state and the cancellation: the connection's exchange lock.
        let lock: NSLock
        // Loop-confined, like the connection.
        private(set) var head: HTTPRequestHead
        /// The request's ``RequestID``; also read by the responder under `lock`.
        private(set) var requestID: RequestID
        private(set) var requestBodyBytes = 0
        private(set) var startTime: UInt64 = 0
        private(set) var wantsKeepAlive = true
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
            head: HTTPRequestHead, requestID: RequestID, requestBodyBytes: Int, startTime: UInt64, wantsKeepAlive: Bool,
            lock: NSLock
        ) {
            self.lock = lock
            self.head = head
            self.requestID = requestID
            self.requestBodyBytes = requestBodyBytes
            self.startTime = startTime
            self.wantsKeepAlive = wantsKeepAlive
        }

        /// Starts the exchange of the next request on a reused object; under `lock`, by the
        /// connection that alone holds it.
        func begin(
            head: HTTPRequestHead, requestID: RequestID, requestBodyBytes: Int, startTime: UInt64, wantsKeepAlive: Bool
        ) {
            self.head = head
            self.requestID = requestID
            self.requestBodyBytes = requestBodyBytes
            self.startTime = startTime
            self.wantsKeepAlive = wantsKeepAlive
            phase = .awaitingResponse
            status = 0
            responseBodyBytes = 0
            route = "unmatched"
            keepsAliveAfterStream = false
            wasStreamed = false
            // A cancellation made for the previous request belongs to it (completed or cancelled).
            cancellationObject = nil
            cancelledReason = nil
            completed = false
        }

        var isHead: Bool { head.method == "HEAD" }

        var isDone: Bool {
            if case .done = phase { return true }
            return false
        }

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
