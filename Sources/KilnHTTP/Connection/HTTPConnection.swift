import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One client connection: socket events, the optional TLS layer, the parser, the request in
/// flight, output buffering, timeouts and closing.
///
/// Everything here runs on the connection's ``IOLoop`` queue. Requests on one connection are
/// handled one at a time in arrival order: pipelined requests wait, already parsed or still as
/// bytes, until the response before them is complete, so responses are always in order.
///
/// `@unchecked Sendable` because it crosses threads only to be used on its loop's queue.
final class HTTPConnection: @unchecked Sendable {
    let id: Int
    let fileDescriptor: Int32
    let remoteAddress: String
    let loop: IOLoop
    let context: HTTPServerContext
    let security: ConnectionSecurityLayer?
    /// A connection over the limit, only told 503 and closed.
    let isRefusal: Bool
    /// Guards the state its exchanges share with other threads (responder, cancellation). One
    /// per connection rather than per request: exchanges come one at a time, and making a lock
    /// costs an allocation.
    let exchangeLock = NSLock()

    /// The socket's event registration; nil before start and after close.
    var watch: SocketWatch?

    /// Phase, timestamps and the decisions that follow from them (sans-IO: no socket inside).
    var lifecycle: ConnectionLifecycle
    var parser: HTTPRequestParser
    var pendingHead: HTTPRequestHead?
    var pendingBody: [UInt8] = []
    var bodyDecoder: GzipDecompressor?
    /// The request with the application; present exactly while `lifecycle` is responding.
    var exchange: Exchange?
    /// The last request's responder (and its exchange), kept for the next request when nothing
    /// else referred to it; released on close, since it refers back to the connection.
    var spareResponder: HTTPResponder?
    /// Re-entrancy guard of ``processInput()`` (a handler that answers at once calls back into
    /// the connection from inside it); a property of the call stack, not of the lifecycle.
    var isProcessingInput = false

    var output: [UInt8] = []
    var outputOffset = 0
    /// Where response heads are encoded, kept for its capacity.
    var headScratch: [UInt8] = []

    init(
        id: Int, fileDescriptor: Int32, remoteAddress: String, loop: IOLoop, context: HTTPServerContext,
        security: ConnectionSecurityLayer?, isRefusal: Bool
    ) {
        self.id = id
        self.fileDescriptor = fileDescriptor
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.context = context
        self.security = security
        self.isRefusal = isRefusal
        parser = HTTPRequestParser(limits: context.configuration.parserLimits)
        lifecycle = ConnectionLifecycle(acceptedAt: MonotonicClock.nanoseconds())
    }

    var isClosed: Bool { lifecycle.isClosed }

    /// Starts watching the socket; called on the loop.
    func start() {
        loop.connections[id] = self
        // The watch keeps the connection alive until it is cancelled (on close).
        watch = loop.watch(fileDescriptor, for: self)
        if isRefusal {
            let requestID = loop.requestIDs.next()
            let response = HTTPResponse.error(
                status: 503, message: "The server is at its connection limit; retry later.",
                type: "server_error", code: "too_many_connections",
                headers: ["Retry-After": "1"], requestID: requestID.text)
            writeStandaloneResponse(response, method: "-", path: "-", requestID: requestID)
        }
    }

    // MARK: Reading

    func handleReadable() {
        guard !isClosed else { return }
        let buffer = loop.readBuffer
        let count = recv(fileDescriptor, buffer.baseAddress, buffer.count, 0)
        if count > 0 {
            let now = MonotonicClock.nanoseconds()
            context.observer?.bytesReceived(count)
            let received = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            let (parse, action) = lifecycle.bytesRead(count, at: now)
            guard parse else {
                perform(action)
                return
            }
            if let security {
                do {
                    let plaintext = try security.receive(received)
                    flushSecurityOutput()
                    if !plaintext.isEmpty { parser.append(plaintext) }
                } catch {
                    context.logger.debug(
                        "TLS failure",
                        metadata: [
                            "remote": .string(remoteAddress),
                            "error": .string("\(error)"),
                        ])
                    // The session may hold an alert telling the client why; send it if the socket takes it.
                    output.append(contentsOf: security.takeOutput())
                    flushOutputOnce()
                    close(reason: .clientDisconnected)
                    return
                }
                if security.peerClosed {
                    if !parser.isIdle || exchange != nil { processInput() }
                    handleEndOfInput()
                    return
                }
            } else {
                parser.append(received)
            }
            if !parser.isIdle { lifecycle.requestBytesArrived(at: now) }
            processInput()
        } else if count == 0 {
            handleEndOfInput()
        } else {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            close(reason: .clientDisconnected)
        }
    }

    /// The client sent FIN (or TLS close_notify); ``ConnectionLifecycle/inputEnded(at:)`` decides.
    func handleEndOfInput() {
        let action = lifecycle.inputEnded(at: MonotonicClock.nanoseconds())
        suspendReading()
        perform(action)
    }

    /// Carries out what the lifecycle decided.
    func perform(_ action: ConnectionLifecycle.Action) {
        switch action {
        case .none:
            break
        case .close(let reason):
            close(reason: reason)
        case .cancelRequest(let reason):
            exchange?.cancel(reason)
        case .reject(let status, let message):
            failRequest(status: status, message: message)
        case .beginLingeringClose:
            beginLingeringClose()
        case .processInput:
            if !isProcessingInput { processInput() }
        }
    }

    /// Parses what is buffered and dispatches complete requests while none is in flight.
    func processInput() {
        guard !isProcessingInput else { return }
        isProcessingInput = true
        defer { isProcessingInput = false }
        while lifecycle.mayParseRequest {
            // A client that pipelines without reading must not make us produce unbounded output:
            // past 256 KiB, parsing waits until the socket has taken it.
            if output.count - outputOffset > 256 * 1024 {
                flushOutput()
                if isClosed || output.count - outputOffset > 256 * 1024 { break }
                continue
            }
            // Between requests with nothing buffered (how this loop usually ends) the parser has
            // nothing to find: not asking it saves a pass through its state machine.
            if parser.isIdle { break }
            let event: HTTPRequestParser.Event?
            do {
                event = try parser.next()
            } catch {
                failRequest(status: error.status, message: error.description)
                return
            }
            guard let event else { break }
            switch consume event {
            case .head(let head):
                pendingHead = head
                pendingBody = []
                lifecycle.requestBytesArrived(at: MonotonicClock.nanoseconds())
                // Most requests have no Expect field: one scan of the fields tells.
                let hasExpectation = head.headers.contains(name: "Expect")
                if hasExpectation, head.headers.listElements(for: "Expect") != ["100-continue"] {
                    failRequest(status: 417, message: "Only the 100-continue expectation is supported.")
                    return
                }
                guard prepareBodyDecoding(for: head) else { return }
                if hasExpectation && head.expectsContinue && head.version.minor >= 1 && parser.isReadingBody
                    && parser.bufferedByteCount == 0
                {
                    appendOutput(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                    flushOutput()
                }
            case .body(let bytes):
                guard appendBody(bytes) else { return }
            case .end:
                guard finishBody() else { return }
                dispatchRequest()
            }
        }
        if outputOffset < output.count { flushOutput() }
        updateReadInterest()
    }

    private func dispatchRequest() {
        // Taken rather than copied and cleared: no reference counting on the way.
        guard let head = pendingHead.take() else { return }
        var body: [UInt8] = []
        swap(&body, &pendingBody)
        let start = lifecycle.requestDispatched(at: MonotonicClock.nanoseconds())
        let wantsKeepAlive = head.wantsKeepAlive && !lifecycle.inputEnded
        let requestID = RequestID.resolve(
            head.headers, maxBytes: context.configuration.maxRequestIDBytes, generator: &loop.requestIDs)
        var responder: HTTPResponder
        if let spare = spareResponder {
            spareResponder = nil
            spare.begin(
                head: head, requestID: requestID, requestBodyBytes: body.count, startTime: start,
                wantsKeepAlive: wantsKeepAlive)
            responder = spare
        } else {
            let exchange = Exchange(
                head: head, requestID: requestID, requestBodyBytes: body.count, startTime: start,
                wantsKeepAlive: wantsKeepAlive, lock: exchangeLock)
            responder = HTTPResponder(connection: self, exchange: exchange)
        }
        exchange = responder.exchange
        context.handler(
            HTTPRequest(head: head, body: body, remoteAddress: remoteAddress, id: requestID), responder)
        recycle(&responder)
    }

    /// Called when a handler returned: if it kept no reference to `responder`, nothing can answer
    /// through it any more, so this sends the 500 its deinit would have sent for a forgotten
    /// answer, and keeps it for the next request once its exchange is done and referred to by
    /// nothing else (no stream, no answer still queued). A responder the handler kept is left to
    /// its deinit.
    private func recycle(_ responder: inout HTTPResponder) {
        guard isKnownUniquelyReferenced(&responder) else { return }
        responder.answerIfForgotten()
        guard !isClosed, responder.exchange.isDone, responder.ownsExchangeAlone() else { return }
        spareResponder = responder
    }

    /// Reads only while input can be used: not while a request is in flight with plenty of
    /// pipelined bytes already buffered (a bounded buffer), nor after end of input.
    func updateReadInterest() {
        let wantsInput = lifecycle.wantsInput(
            bufferedBytes: parser.bufferedByteCount,
            limit: context.configuration.parserLimits.maxHeaderBytes)
        if wantsInput { resumeReading() } else { suspendReading() }
    }

    func suspendReading() {
        watch?.setReading(false)
    }

    func resumeReading() {
        watch?.setReading(true)
    }

    /// The socket has room for output again.
    func handleWritable() {
        flushOutput()
    }

    /// The socket failed or was hung up while nothing waited on it: the peer is gone.
    func handleHangUp() {
        close(reason: .clientDisconnected)
    }

    /// One best-effort write of pending output, for bytes sent just before closing.
    func flushOutputOnce() {
        guard outputOffset < output.count else { return }
        _ = output.withUnsafeBytes { raw in
            send(fileDescriptor, raw.baseAddress! + outputOffset, raw.count - outputOffset, Int32(MSG_NOSIGNAL))
        }
    }

    // MARK: Closing

    /// Answers an error the connection itself detected (parse errors, timeouts) and closes.
    /// The client's id is kept when the head was read (a body too large, a stalled body).
    func failRequest(status: Int, message: String) {
        let head = pendingHead ?? parser.refusedHead
        let method = head?.method ?? "-"
        let path = head?.path ?? "-"
        let requestID =
            head.map {
                RequestID.resolve(
                    $0.headers, maxBytes: context.configuration.maxRequestIDBytes, generator: &loop.requestIDs)
            } ?? loop.requestIDs.next()
        pendingHead = nil
        pendingBody = []
        context.logger.debug(
            "rejecting request",
            metadata: [
                "remote": .string(remoteAddress),
                "status": .stringConvertible(status),
                "reason": .string(message),
                "request_id": .string(requestID.text),
            ])
        writeStandaloneResponse(
            .standardError(status: status, message: message, requestID: requestID.text), method: method, path: path,
            requestID: requestID)
    }

    /// Shuts the write side and reads on briefly so the client receives what was sent instead of
    /// a reset (RFC 9112 §9.6).
    func beginLingeringClose() {
        guard !lifecycle.isLingering, !isClosed else { return }
        if let security {
            security.close()
            // Flushing may complete the close re-entrantly (flushOutput ends here again).
            flushSecurityOutput()
            guard !lifecycle.isLingering, !isClosed else { return }
            // close_notify still queued: lingering starts once it is written.
            if outputOffset < output.count { return }
        }
        let action = lifecycle.lingerStarted(at: MonotonicClock.nanoseconds())
        shutdown(fileDescriptor, Int32(SHUT_WR))
        if action == .none { resumeReading() } else { perform(action) }
    }

    /// Closes the socket now. A request still in flight is cancelled with `reason`.
    func close(reason: CancellationReason?) {
        guard !isClosed else { return }
        lifecycle.closed()
        if let exchange {
            exchange.cancel(reason ?? .clientDisconnected)
            if case .done = exchange.phase {
            } else {
                exchange.phase = .done
                recordCompletion(exchange, status: exchange.status == 0 ? 499 : exchange.status)
            }
            self.exchange = nil
        }
        watch?.cancel()
        watch = nil
        spareResponder = nil
        output = []
        loop.connections[id] = nil
        context.connectionClosed(isRefusal: isRefusal)
    }
}
