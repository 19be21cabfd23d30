/// The lifecycle of one HTTP/1.1 connection as a value: which phase it is in, what the clock
/// says about it, and what the I/O layer must do when something happens.
///
/// It touches no socket (the sans-IO style of swift-nio's and Hummingbird's connection state
/// machines): ``HTTPConnection`` reports events (bytes read, a request handed to the
/// application, a response completed, output drained, the peer's end of input, a deadline
/// sweep, a drain) and performs the ``Action`` it gets back. Every transition can therefore be
/// tested without a socket (`ConnectionLifecycleTests`).
///
/// Requests are answered one at a time in arrival order; pipelined requests wait in the parser
/// until the response before them is complete.
struct ConnectionLifecycle: Sendable {
    /// Where the connection is between accept and close.
    enum State: Equatable, Sendable {
        /// Waiting for a request: before the first one, or idle between keep-alive requests.
        case awaitingRequest
        /// Part of a request (head or body) has arrived; the request timeouts apply.
        case receivingRequest
        /// A request was handed to the application and its response is not complete.
        /// `closeAfter`: no further request will be read (the peer ended its input).
        case responding(closeAfter: Bool)
        /// The last response is queued: close once the output is written.
        case closingAfterOutput
        /// The write side is shut down; input is read and discarded until the peer closes or the
        /// linger timeout passes, so that the client sees the response rather than a reset.
        case lingering
        case closed
    }

    /// What the I/O layer must do after an event.
    enum Action: Equatable, Sendable {
        case none
        /// Close the socket now, cancelling any request in flight with the reason.
        case close(CancellationReason?)
        /// Cancel the request in flight; the connection closes after its response.
        case cancelRequest(CancellationReason)
        /// Answer `status` with `message` (a request timeout) and close after it.
        case reject(status: Int, message: String)
        /// Shut the write side down and linger (TLS: send close_notify first).
        case beginLingeringClose
        /// Parse buffered input: a pipelined request may be waiting.
        case processInput
    }

    /// What the sweep needs to know besides the lifecycle.
    struct Facts: Equatable, Sendable {
        /// Output is queued and not yet written.
        var outputPending = false
        /// A TLS handshake is still going on.
        var handshakePending = false
        /// A request body is arriving (or a head was parsed and its body is awaited).
        var readingBody = false
        /// Bytes of a request head have been received.
        var headPending = false
        /// The server is shutting down.
        var draining = false
    }

    /// Timeouts, in nanoseconds.
    struct Timeouts: Equatable, Sendable {
        var headerRead: UInt64
        var bodyIdle: UInt64
        var keepAlive: UInt64
        var send: UInt64
        var handshake: UInt64
        var linger: UInt64

        init(
            headerRead: Double, bodyIdle: Double, keepAlive: Double, send: Double, handshake: Double,
            linger: Double
        ) {
            func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(seconds, 0) * 1e9) }
            self.headerRead = nanoseconds(headerRead)
            self.bodyIdle = nanoseconds(bodyIdle)
            self.keepAlive = nanoseconds(keepAlive)
            self.send = nanoseconds(send)
            self.handshake = nanoseconds(handshake)
            self.linger = nanoseconds(linger)
        }

        init(_ configuration: HTTPServerConfiguration) {
            self.init(
                headerRead: configuration.headerReadTimeout, bodyIdle: configuration.bodyIdleTimeout,
                keepAlive: configuration.keepAliveTimeout, send: configuration.sendTimeout,
                handshake: configuration.handshakeTimeout, linger: configuration.lingerTimeout)
        }
    }

    /// Input a lingering connection discards before it gives up on a graceful close.
    static let maxLingerBytes = 1 << 20

    private(set) var state: State = .awaitingRequest
    /// The peer ended its input (FIN, or TLS close_notify).
    private(set) var inputEnded = false
    /// Responses completed.
    private(set) var requestsServed = 0

    let acceptedAt: UInt64
    private(set) var lastReadAt: UInt64
    private(set) var lastWriteProgressAt: UInt64
    private(set) var idleSince: UInt64
    /// When the first byte of the request being received arrived.
    private(set) var requestStartedAt: UInt64?
    private(set) var lingerStartedAt: UInt64 = 0
    private(set) var lingerDiscardedBytes = 0

    init(acceptedAt now: UInt64) {
        acceptedAt = now
        lastReadAt = now
        lastWriteProgressAt = now
        idleSince = now
    }

    // MARK: Questions

    var isClosed: Bool { state == .closed }
    var isLingering: Bool { state == .lingering }

    /// Whether a request is with the application.
    var isResponding: Bool {
        if case .responding = state { return true }
        return false
    }

    /// Whether buffered input may be parsed into the next request now.
    var mayParseRequest: Bool { state == .awaitingRequest || state == .receivingRequest }

    /// Whether the connection ends once its current output is written.
    var closesAfterOutput: Bool {
        switch state {
        case .closingAfterOutput, .responding(closeAfter: true): return true
        default: return false
        }
    }

    /// Whether the response now being answered may keep the connection open.
    func mayKeepAlive(requestWantsKeepAlive: Bool, draining: Bool, isRefusal: Bool) -> Bool {
        requestWantsKeepAlive && !inputEnded && !draining && !isRefusal && !closesAfterOutput
    }

    /// Whether the socket should be read: not after the end of input, and not while a request is
    /// in flight with `bufferedBytes` of pipelined input already at `limit` (a bounded buffer).
    func wantsInput(bufferedBytes: Int, limit: Int) -> Bool {
        guard !inputEnded else { return false }
        switch state {
        case .closed, .closingAfterOutput: return false
        case .lingering, .awaitingRequest, .receivingRequest: return true
        case .responding: return bufferedBytes < limit
        }
    }

    // MARK: Events

    /// `count` bytes arrived at `now`. True when they are to be parsed; false when the connection
    /// is lingering and discards them (the action then says whether to give up and close).
    mutating func bytesRead(_ count: Int, at now: UInt64) -> (parse: Bool, action: Action) {
        lastReadAt = now
        guard state == .lingering else { return (state != .closed, .none) }
        lingerDiscardedBytes += count
        return (false, lingerDiscardedBytes > Self.maxLingerBytes ? .close(nil) : .none)
    }

    /// Bytes of a new request are buffered: its header timeout starts at `now` (once).
    mutating func requestBytesArrived(at now: UInt64) {
        guard state == .awaitingRequest || state == .receivingRequest else { return }
        state = .receivingRequest
        if requestStartedAt == nil { requestStartedAt = now }
    }

    /// A complete request goes to the application; returns when it started arriving.
    mutating func requestDispatched(at now: UInt64) -> UInt64 {
        let start = requestStartedAt ?? now
        requestStartedAt = nil
        state = .responding(closeAfter: inputEnded)
        return start
    }

    /// The response in flight is complete (or a standalone answer was queued with `keepAlive`
    /// false). Keep-alive returns to waiting; otherwise the connection closes after its output.
    mutating func responseCompleted(keepAlive: Bool, at now: UInt64) {
        guard state != .closed, state != .lingering else { return }
        requestsServed += 1
        idleSince = now
        state = keepAlive && !closesAfterOutput ? .awaitingRequest : .closingAfterOutput
    }

    /// The connection answered on its own (a parse error, a timeout, a refusal) and ends after it.
    mutating func standaloneResponseQueued() {
        guard state != .closed, state != .lingering else { return }
        requestStartedAt = nil
        state = .closingAfterOutput
    }

    /// Output made progress at `now`.
    mutating func outputProgressed(at now: UInt64) {
        lastWriteProgressAt = now
    }

    /// Every queued byte was written. `bufferedInput`: the parser holds unparsed bytes.
    func outputDrained(bufferedInput: Bool) -> Action {
        switch state {
        case .closingAfterOutput: return .beginLingeringClose
        case .awaitingRequest, .receivingRequest: return bufferedInput ? .processInput : .none
        default: return .none
        }
    }

    /// The peer ended its input. With a request in flight that means it gave up on it (as Go's
    /// server treats it too): the request is cancelled and the connection closes after whatever
    /// response still comes. Otherwise it closes now.
    mutating func inputEnded(at now: UInt64) -> Action {
        inputEnded = true
        switch state {
        case .closed: return .none
        case .responding:
            state = .responding(closeAfter: true)
            return .cancelRequest(.clientDisconnected)
        default:
            return .close(nil)
        }
    }

    /// The write side was shut down at `now`; lingering ends at once when input already ended.
    mutating func lingerStarted(at now: UInt64) -> Action {
        guard state != .closed else { return .none }
        state = .lingering
        lingerStartedAt = now
        return inputEnded ? .close(nil) : .none
    }

    /// The socket is closed.
    mutating func closed() {
        state = .closed
    }

    /// Shutdown began: an idle keep-alive connection closes now (after its output, if any); a
    /// busy one after its current response, which goes out with `Connection: close`.
    ///
    /// A connection that has not sent its first request is not idle: its request may be on the
    /// wire (a proxy writes it as soon as it connects, and nginx opens a connection per request),
    /// and closing the connection would lose a request its client believes sent, a POST that no
    /// proxy may retry. It is answered (with `Connection: close`), or refused after the header
    /// timeout as always.
    mutating func drain(facts: Facts) -> Action {
        guard mayParseRequest, !facts.headPending, !facts.readingBody, requestsServed > 0 else { return .none }
        if facts.outputPending {
            state = .closingAfterOutput
            return .none
        }
        return .close(nil)
    }

    /// Which deadline applies follows from the state, so nothing is re-armed as bytes come and
    /// go: lingering, stalled output (send timeout), TLS handshake, a body that stalls (408), a
    /// head that is too slow (slowloris: 408), and idle keep-alive.
    func deadline(now: UInt64, facts: Facts, timeouts: Timeouts) -> Action {
        func elapsed(since start: UInt64) -> UInt64 { now &- min(start, now) }
        switch state {
        case .closed:
            return .none
        case .lingering:
            return elapsed(since: lingerStartedAt) > timeouts.linger ? .close(nil) : .none
        default:
            break
        }
        if facts.outputPending {
            return elapsed(since: lastWriteProgressAt) > timeouts.send ? .close(.sendTimedOut) : .none
        }
        if facts.handshakePending {
            return elapsed(since: acceptedAt) > timeouts.handshake ? .close(nil) : .none
        }
        if isResponding || state == .closingAfterOutput { return .none }
        if facts.readingBody {
            return elapsed(since: lastReadAt) > timeouts.bodyIdle
                ? .reject(status: 408, message: "The request body was not received in time.") : .none
        }
        if facts.headPending {
            return elapsed(since: requestStartedAt ?? lastReadAt) > timeouts.headerRead
                ? .reject(status: 408, message: "The request header was not received in time.") : .none
        }
        if requestsServed == 0 {
            // A connection that never sent anything gets the header timeout too.
            return elapsed(since: acceptedAt) > timeouts.headerRead
                ? .reject(status: 408, message: "No request was received in time.") : .none
        }
        if facts.draining { return .close(nil) }
        return elapsed(since: idleSince) > timeouts.keepAlive ? .close(nil) : .none
    }
}
