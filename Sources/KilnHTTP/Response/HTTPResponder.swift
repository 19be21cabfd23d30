import Foundation
import Logging

/// How a handler answers a request: once, from any thread, now or later.
///
/// ```swift
/// router.get("/hello") { request, responder in
///     responder.respond(.json("{\"hello\":\"world\"}"))
/// }
/// router.post("/v1/stream") { request, responder in
///     let events = responder.startEventStream()
///     events.cancellation.onCancel { _ in job.cancel() }       // the client went away
///     engine.run(job) { token in events.send(data: token) }    // any thread
///                    onDone: { events.finish() }
/// }
/// ```
///
/// Exactly one of ``respond(_:)``, ``startStream(status:headers:)`` or
/// ``startEventStream(status:headers:)`` takes effect; later calls are ignored. Every call hops
/// onto the connection's queue (or runs in place when already there), so handlers never block the
/// server and engines may answer from their own threads. A responder dropped without an answer
/// sends 500 so that a buggy handler cannot hang a connection.
///
/// The connection reuses a responder for its next request when the handler kept no reference to
/// it (see ``HTTPConnection/recycle(_:)``, which also sends that 500 for a handler that returned
/// without answering or keeping the responder); one that a handler keeps is never reused, and
/// its deinit sends the 500 if it must. Keep a responder with a strong reference: only strong
/// references count as keeping it, so one held `weak` or `unowned` past the handler's return may
/// already serve the connection's next request.
public final class HTTPResponder: @unchecked Sendable {
    private let connection: HTTPConnection
    /// A `var` only so that the connection can tell whether the responder alone holds it.
    private(set) var exchange: HTTPConnection.Exchange
    private let lock: NSLock
    private var answered = false
    private var extraHeaders = HTTPHeaders()
    private var routeLabel = "unmatched"

    /// Signalled when the client goes away before the response is complete.
    public var cancellation: RequestCancellation { exchange.cancellation }

    init(connection: HTTPConnection, exchange: HTTPConnection.Exchange) {
        self.connection = connection
        self.exchange = exchange
        self.lock = exchange.lock
    }

    deinit {
        answerIfForgotten()
    }

    /// Sends 500 unless the handler answered; for a responder no handler can reach any more.
    func answerIfForgotten() {
        guard claim() != nil else { return }
        let connection = self.connection, exchange = self.exchange
        connection.loop.execute {
            connection.sendResponse(
                .standardError(status: 500, message: "The handler produced no response.", requestID: exchange.requestID.text),
                for: exchange, extraHeaders: HTTPHeaders())
        }
    }

    /// Whether the responder alone holds its exchange: no queued work or stream refers to it.
    func ownsExchangeAlone() -> Bool {
        isKnownUniquelyReferenced(&exchange)
    }

    /// Readies a responder that nothing else refers to any more for the connection's next
    /// request. The lock is taken only so that the writes of threads that used it before are seen.
    func begin(head: HTTPRequestHead, requestID: RequestID, requestBodyBytes: Int, startTime: UInt64, wantsKeepAlive: Bool) {
        lock.withLock {
            exchange.begin(
                head: head, requestID: requestID, requestBodyBytes: requestBodyBytes, startTime: startTime,
                wantsKeepAlive: wantsKeepAlive)
            answered = false
            if !extraHeaders.isEmpty { extraHeaders = HTTPHeaders() }
            routeLabel = "unmatched"
        }
    }

    /// The request's id (``RequestID``), which every response to it carries in `X-Request-ID`:
    /// put it in error bodies and log lines.
    public var requestID: String { lock.withLock { exchange.requestID }.text }

    /// The server's logger with the request's id as metadata (`request_id`): for every line a
    /// handler logs about its request, so that they join the access log line.
    public var logger: Logger {
        var logger = connection.context.logger
        logger[metadataKey: "request_id"] = .string(requestID)
        return logger
    }

    /// Whether a response or stream was already started.
    public var hasResponded: Bool { lock.withLock { answered } }

    /// The route pattern used as the metrics label; set by ``Router``.
    public var route: String {
        get { lock.withLock { routeLabel } }
        set {
            lock.withLock { routeLabel = newValue }
            // Set in place when already on the loop (the router's case): no closure to make.
            if connection.loop.isCurrent {
                exchange.route = newValue
                return
            }
            let exchange = self.exchange
            connection.loop.execute { exchange.route = newValue }
        }
    }

    /// Adds a header to whatever response is eventually sent (CORS headers, for instance).
    public func addHeader(name: String, value: String) {
        lock.withLock { extraHeaders.add(name: name, value: value) }
    }

    /// Sends a complete response with `Content-Length`.
    public func respond(_ response: HTTPResponse) {
        guard let headers = claim() else { return }
        let connection = self.connection, exchange = self.exchange
        if connection.loop.isCurrent {
            connection.sendResponse(response, for: exchange, extraHeaders: headers)
        } else {
            connection.loop.execute { connection.sendResponse(response, for: exchange, extraHeaders: headers) }
        }
    }

    /// Starts a streamed response (chunked; close-delimited for HTTP/1.0 clients).
    public func startStream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponseStream {
        let stream = HTTPResponseStream(connection: connection, exchange: exchange)
        guard let extra = claim() else {
            stream.markFinished()
            return stream
        }
        let connection = self.connection, exchange = self.exchange
        connection.loop.execute {
            connection.startStream(status: status, headers: headers, for: exchange, extraHeaders: extra)
        }
        return stream
    }

    /// Starts a Server-Sent Events stream (`text/event-stream`, no caching, no proxy buffering).
    public func startEventStream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> EventStreamWriter {
        var allHeaders = headers
        allHeaders.replaceOrAdd(name: "Content-Type", value: "text/event-stream; charset=utf-8")
        if !allHeaders.contains(name: "Cache-Control") { allHeaders.add(name: "Cache-Control", value: "no-cache") }
        allHeaders.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        return EventStreamWriter(stream: startStream(status: status, headers: allHeaders))
    }

    private func claim() -> HTTPHeaders? {
        lock.withLock {
            guard !answered else { return nil }
            answered = true
            return extraHeaders
        }
    }
}
