import Dispatch
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Responses, streams and the output buffer of a connection.
extension HTTPConnection {
    /// Whether the connection may stay open after the exchange being answered now.
    func mayKeepAlive(_ exchange: Exchange) -> Bool {
        lifecycle.mayKeepAlive(
            requestWantsKeepAlive: exchange.wantsKeepAlive, draining: loop.isDraining,
            isRefusal: isRefusal)
    }

    // MARK: Complete responses

    func sendResponse(_ original: HTTPResponse, for target: Exchange, extraHeaders: HTTPHeaders) {
        guard !isClosed, let exchange, exchange === target, case .awaitingResponse = exchange.phase else { return }
        let (response, varyOnAcceptEncoding) = encodeForClient(original, for: exchange)
        let keepAlive = mayKeepAlive(exchange)
        let forbidsBody = HTTPResponse.statusForbidsBody(response.status)
        let framing = HTTPResponseHeadEncoder.Framing(
            contentLength: forbidsBody ? nil : response.body.count, chunked: false, keepAlive: keepAlive,
            requestVersion: exchange.head.version, varyOnAcceptEncoding: varyOnAcceptEncoding,
            requestID: exchange.requestID)
        appendHead(status: response.status, headers: response.headers, extraHeaders: extraHeaders, framing: framing)
        let sendsBody = !forbidsBody && !exchange.isHead && !response.body.isEmpty
        if sendsBody { appendOutput(response.body) }
        exchange.status = response.status
        exchange.responseBodyBytes = sendsBody ? response.body.count : 0
        completeExchange(exchange, keepAlive: keepAlive)
    }

    /// Encodes a response head and queues it: straight into the output buffer on plain
    /// connections (no copy), through the reused scratch buffer and the TLS layer otherwise.
    private func appendHead(
        status: Int, headers: HTTPHeaders, extraHeaders: HTTPHeaders,
        framing: HTTPResponseHeadEncoder.Framing
    ) {
        guard security == nil else {
            var head = headScratch
            headScratch = []
            head.removeAll(keepingCapacity: true)
            HTTPResponseHeadEncoder.encode(
                into: &head, status: status, headers: headers, extraHeaders: extraHeaders,
                framing: framing, serverLine: context.serverLine, dateLine: loop.dateHeaderLine())
            appendOutput(head)
            headScratch = head
            return
        }
        guard !isClosed else { return }
        let backlog = output.count - outputOffset
        HTTPResponseHeadEncoder.encode(
            into: &output, status: status, headers: headers, extraHeaders: extraHeaders,
            framing: framing, serverLine: context.serverLine, dateLine: loop.dateHeaderLine())
        checkOutputBacklog(backlog)
    }

    // MARK: Streams

    func startStream(status: Int, headers: HTTPHeaders, for target: Exchange, extraHeaders: HTTPHeaders) {
        guard !isClosed, let exchange, exchange === target, case .awaitingResponse = exchange.phase else { return }
        // HTTP/1.0 has no chunked coding: the stream is delimited by closing the connection.
        let chunked = exchange.head.version.minor >= 1
        let keepAlive = chunked && mayKeepAlive(exchange)
        exchange.status = status
        exchange.phase = .streaming(chunked: chunked)
        exchange.wasStreamed = true
        exchange.keepsAliveAfterStream = keepAlive
        appendHead(
            status: status, headers: headers, extraHeaders: extraHeaders,
            framing: HTTPResponseHeadEncoder.Framing(
                contentLength: nil, chunked: chunked, keepAlive: keepAlive,
                requestVersion: exchange.head.version, requestID: exchange.requestID))
        flushOutput()
    }

    /// Sends one piece of a stream as its own chunk, written to the socket at once (one flush
    /// per call: an SSE event reaches the client as soon as it is produced).
    func writeStream(_ bytes: [UInt8], for target: Exchange) {
        guard !isClosed, let exchange, exchange === target, case .streaming(let chunked) = exchange.phase,
            !bytes.isEmpty, !exchange.isHead
        else { return }
        exchange.responseBodyBytes += bytes.count
        if chunked {
            var frame: [UInt8] = Array(String(bytes.count, radix: 16).utf8)
            frame.reserveCapacity(frame.count + bytes.count + 4)
            frame.append(HTTPSyntax.cr)
            frame.append(HTTPSyntax.lf)
            frame.append(contentsOf: bytes)
            frame.append(HTTPSyntax.cr)
            frame.append(HTTPSyntax.lf)
            appendOutput(frame)
        } else {
            appendOutput(bytes)
        }
        flushOutput()
    }

    func finishStream(for target: Exchange) {
        guard !isClosed, let exchange, exchange === target, case .streaming(let chunked) = exchange.phase else { return }
        if chunked && !exchange.isHead { appendOutput(Array("0\r\n\r\n".utf8)) }
        completeExchange(exchange, keepAlive: exchange.keepsAliveAfterStream)
    }

    // MARK: Completion

    private func completeExchange(_ exchange: Exchange, keepAlive: Bool) {
        exchange.phase = .done
        exchange.complete()
        recordCompletion(exchange, status: exchange.status)
        self.exchange = nil
        lifecycle.responseCompleted(keepAlive: keepAlive, at: MonotonicClock.nanoseconds())
        // Answered from inside the input loop (a handler that responds at once): the loop goes on
        // with pipelined requests and writes all their responses with one send when it ends.
        if isProcessingInput && !lifecycle.closesAfterOutput { return }
        flushOutput()
        if lifecycle.mayParseRequest { processInput() }
    }

    func recordCompletion(_ exchange: Exchange, status: Int) {
        let duration = Double(MonotonicClock.nanoseconds() - exchange.startTime) / 1e9
        let streamed = exchange.wasStreamed
        context.requestCompleted(
            HTTPRequestRecord(
                // The path from the target alone: `head.path` would copy the whole head first.
                method: exchange.head.method, path: HTTPRequestHead.path(of: exchange.head.target), route: exchange.route,
                status: status,
                responseBodyBytes: exchange.responseBodyBytes, requestBodyBytes: exchange.requestBodyBytes,
                duration: duration, remoteAddress: remoteAddress, streamed: streamed,
                cancellation: exchange.cancellationReason, id: exchange.requestID))
    }

    /// A response that belongs to no handled request (parse errors, timeouts, refusals): sent with
    /// `Connection: close`, after which the connection lingers and closes.
    func writeStandaloneResponse(_ response: HTTPResponse, method: String, path: String, requestID: RequestID) {
        guard !isClosed, exchange == nil else { return }
        appendHead(
            status: response.status, headers: response.headers, extraHeaders: HTTPHeaders(),
            framing: HTTPResponseHeadEncoder.Framing(
                contentLength: response.body.count, chunked: false,
                keepAlive: false, requestVersion: .http1_1, requestID: requestID))
        appendOutput(response.body)
        let start = lifecycle.requestStartedAt ?? lifecycle.lastReadAt
        context.requestCompleted(
            HTTPRequestRecord(
                method: method, path: path, route: "unmatched", status: response.status,
                responseBodyBytes: response.body.count, requestBodyBytes: 0,
                duration: Double(MonotonicClock.nanoseconds() - min(start, MonotonicClock.nanoseconds())) / 1e9,
                remoteAddress: remoteAddress, streamed: false, cancellation: nil, id: requestID))
        lifecycle.standaloneResponseQueued()
        suspendReading()
        flushOutput()
    }

    // MARK: Output buffer

    /// Queues bytes for the socket (through TLS when present) without writing yet.
    func appendOutput(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        // The limit is on the backlog already waiting when more arrives: a client that stops
        // reading is dropped at its next response or event, but one response or event larger than
        // the limit (a batch of images, say) still goes out whole.
        let backlog = output.count - outputOffset
        if let security {
            do {
                try security.send(bytes)
            } catch {
                close(reason: .clientDisconnected)
                return
            }
            output.append(contentsOf: security.takeOutput())
        } else {
            output.append(contentsOf: bytes)
        }
        checkOutputBacklog(backlog)
    }

    /// Drops a client that left more than the limit unread before the latest output was queued.
    private func checkOutputBacklog(_ backlog: Int) {
        if backlog > context.configuration.maxBufferedOutputBytes {
            var metadata: Logger.Metadata = ["remote": .string(remoteAddress)]
            if let exchange { metadata["request_id"] = .string(exchange.requestID.text) }
            context.logger.debug("dropping a connection that does not read its output", metadata: metadata)
            close(reason: .sendTimedOut)
        }
    }

    /// Moves ciphertext the TLS layer produced on its own (handshake, alerts) to the socket.
    func flushSecurityOutput() {
        guard let security else { return }
        let bytes = security.takeOutput()
        if !bytes.isEmpty {
            output.append(contentsOf: bytes)
            flushOutput()
        }
    }

    /// Writes as much buffered output as the socket takes; waits for writability for the rest.
    func flushOutput() {
        guard !isClosed else { return }
        while outputOffset < output.count {
            let written = output.withUnsafeBytes { raw in
                send(fileDescriptor, raw.baseAddress! + outputOffset, raw.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                outputOffset += written
                lifecycle.outputProgressed(at: MonotonicClock.nanoseconds())
                context.observer?.bytesSent(written)
                continue
            }
            let code = errno
            if written < 0 && code == EINTR { continue }
            if written < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                watch?.setWriting(true)
                return
            }
            close(reason: .clientDisconnected)
            return
        }
        if output.capacity > 1 << 20 { output = [] } else { output.removeAll(keepingCapacity: true) }
        outputOffset = 0
        if let watch, watch.isWriting { watch.setWriting(false) }
        perform(lifecycle.outputDrained(bufferedInput: parser.bufferedByteCount > 0))
    }
}
