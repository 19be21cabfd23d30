import Dispatch

/// Timeouts of a connection, checked by its loop's sweep timer.
///
/// Which deadline applies follows from the connection's state, so nothing has to be re-armed as
/// bytes come and go: lingering close, stalled output (send timeout), TLS handshake, a request
/// head that is too slow (slowloris: 408), a body that stalls (408), and idle keep-alive.
extension HTTPConnection {
    func checkDeadlines(now: UInt64) {
        guard !isClosed else { return }
        let configuration = context.configuration
        func elapsed(since start: UInt64) -> Double { Double(now &- min(start, now)) / 1e9 }

        if isLingering {
            if elapsed(since: lingerStart) > configuration.lingerTimeout { close(reason: nil) }
            return
        }
        if outputOffset < output.count {
            if elapsed(since: lastWriteProgress) > configuration.sendTimeout {
                context.logger.debug("send timeout", metadata: ["remote": .string(remoteAddress)])
                close(reason: .sendTimedOut)
            }
            return
        }
        if let security, !security.isHandshakeComplete {
            if elapsed(since: acceptTime) > configuration.handshakeTimeout { close(reason: nil) }
            return
        }
        if exchange != nil || closeAfterFlush { return }
        if pendingHead != nil || parser.isReadingBody {
            if elapsed(since: lastReadTime) > configuration.bodyIdleTimeout {
                failRequest(status: 408, message: "The request body was not received in time.")
            }
            return
        }
        if !parser.isIdle {
            if elapsed(since: headStartTime ?? lastReadTime) > configuration.headerReadTimeout {
                failRequest(status: 408, message: "The request header was not received in time.")
            }
            return
        }
        if loop.isDraining {
            close(reason: nil)
            return
        }
        if requestsServed == 0 {
            // A connection that never sent anything gets the header timeout too.
            if elapsed(since: acceptTime) > configuration.headerReadTimeout {
                failRequest(status: 408, message: "No request was received in time.")
            }
        } else if elapsed(since: idleSince) > configuration.keepAliveTimeout {
            close(reason: nil)
        }
    }

    /// Called on the loop when shutdown begins: idle connections close now, busy ones after
    /// their current response (which is sent with `Connection: close`).
    func beginDraining() {
        guard !isClosed else { return }
        if exchange == nil && parser.isIdle && pendingHead == nil && !closeAfterFlush && !isLingering {
            if outputOffset < output.count { closeAfterFlush = true } else { close(reason: nil) }
        }
    }
}
