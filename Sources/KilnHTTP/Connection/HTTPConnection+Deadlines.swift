import Logging

/// Timeouts of a connection, checked by its loop's sweep timer; the decisions are
/// ``ConnectionLifecycle``'s, from the connection's state and the facts gathered here.
extension HTTPConnection {
    /// What the lifecycle needs to know about the parser, the output and TLS.
    var lifecycleFacts: ConnectionLifecycle.Facts {
        ConnectionLifecycle.Facts(
            outputPending: outputOffset < output.count,
            handshakePending: security.map { !$0.isHandshakeComplete } ?? false,
            readingBody: pendingHead != nil || parser.isReadingBody,
            headPending: !parser.isIdle,
            draining: loop.isDraining)
    }

    func checkDeadlines(now: UInt64) {
        guard !isClosed else { return }
        let action = lifecycle.deadline(now: now, facts: lifecycleFacts, timeouts: context.timeouts)
        if case .close(.sendTimedOut) = action {
            var metadata: Logger.Metadata = ["remote": .string(remoteAddress)]
            if let exchange { metadata["request_id"] = .string(exchange.requestID.text) }
            context.logger.debug("send timeout", metadata: metadata)
        }
        perform(action)
    }

    /// Called on the loop when shutdown begins: idle connections close now, busy ones after
    /// their current response (which is sent with `Connection: close`).
    func beginDraining() {
        guard !isClosed else { return }
        perform(lifecycle.drain(facts: lifecycleFacts))
    }
}
