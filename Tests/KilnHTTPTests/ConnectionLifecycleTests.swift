import Testing

@testable import KilnHTTP

/// The connection's lifecycle without a socket: events in, actions out.
struct ConnectionLifecycleTests {
    static let second: UInt64 = 1_000_000_000
    static let timeouts = ConnectionLifecycle.Timeouts(
        headerRead: 10, bodyIdle: 30, keepAlive: 60, send: 30,
        handshake: 10, linger: 2)

    /// A connection accepted at t = 0 s.
    func fresh() -> ConnectionLifecycle { ConnectionLifecycle(acceptedAt: 0) }

    @Test func keepAliveReturnsToAwaitingTheNextRequest() {
        var lifecycle = fresh()
        #expect(lifecycle.bytesRead(40, at: 1) == (parse: true, action: .none))
        lifecycle.requestBytesArrived(at: 1)
        #expect(lifecycle.state == .receivingRequest)
        #expect(lifecycle.requestDispatched(at: 2) == 1)
        #expect(lifecycle.state == .responding(closeAfter: false))
        #expect(lifecycle.mayKeepAlive(requestWantsKeepAlive: true, draining: false, isRefusal: false))
        lifecycle.responseCompleted(keepAlive: true, at: 3)
        #expect(lifecycle.state == .awaitingRequest)
        #expect(lifecycle.requestsServed == 1)
        #expect(lifecycle.outputDrained(bufferedInput: false) == .none)
        // The next request's clock starts with its own first byte, not the first request's.
        lifecycle.requestBytesArrived(at: 5)
        #expect(lifecycle.requestDispatched(at: 6) == 5)
    }

    @Test func pipelinedInputIsParsedOnceTheResponseIsWritten() {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        // While a request is with the application, nothing else is parsed.
        #expect(!lifecycle.mayParseRequest)
        #expect(lifecycle.outputDrained(bufferedInput: true) == .none)
        lifecycle.responseCompleted(keepAlive: true, at: 2)
        #expect(lifecycle.mayParseRequest)
        #expect(lifecycle.outputDrained(bufferedInput: true) == .processInput)
    }

    @Test func readingPausesWhilePipelinedInputIsAtItsLimit() {
        var lifecycle = fresh()
        #expect(lifecycle.wantsInput(bufferedBytes: 100_000, limit: 1024))
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        #expect(lifecycle.wantsInput(bufferedBytes: 10, limit: 1024))
        #expect(!lifecycle.wantsInput(bufferedBytes: 1024, limit: 1024))
    }

    @Test func closeAfterResponseLingersThenCloses() {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        lifecycle.responseCompleted(keepAlive: false, at: 2)
        #expect(lifecycle.state == .closingAfterOutput)
        #expect(!lifecycle.mayParseRequest)
        #expect(!lifecycle.wantsInput(bufferedBytes: 0, limit: 1024))
        #expect(lifecycle.outputDrained(bufferedInput: true) == .beginLingeringClose)
        #expect(lifecycle.lingerStarted(at: 3) == .none)
        #expect(lifecycle.state == .lingering)
        // Input is discarded while lingering, up to a bound.
        #expect(lifecycle.bytesRead(1000, at: 4) == (parse: false, action: .none))
        #expect(lifecycle.bytesRead(ConnectionLifecycle.maxLingerBytes, at: 4) == (parse: false, action: .close(nil)))
    }

    @Test func lingerEndsWithThePeersCloseOrItsTimeout() {
        var lifecycle = fresh()
        lifecycle.standaloneResponseQueued()
        #expect(lifecycle.lingerStarted(at: 1 * Self.second) == .none)
        #expect(lifecycle.deadline(now: 2 * Self.second, facts: .init(), timeouts: Self.timeouts) == .none)
        #expect(lifecycle.deadline(now: 4 * Self.second, facts: .init(), timeouts: Self.timeouts) == .close(nil))
        #expect(lifecycle.inputEnded(at: 2 * Self.second) == .close(nil))
    }

    @Test func lingeringClosesAtOnceWhenInputAlreadyEnded() {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        #expect(lifecycle.inputEnded(at: 2) == .cancelRequest(.clientDisconnected))
        lifecycle.responseCompleted(keepAlive: true, at: 3)
        #expect(lifecycle.state == .closingAfterOutput)
        #expect(lifecycle.lingerStarted(at: 4) == .close(nil))
    }

    @Test func peerCloseMidResponseCancelsAndClosesAfterTheResponse() {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        #expect(lifecycle.inputEnded(at: 2) == .cancelRequest(.clientDisconnected))
        #expect(lifecycle.state == .responding(closeAfter: true))
        #expect(!lifecycle.wantsInput(bufferedBytes: 0, limit: 1024))
        // Whatever response still comes may not keep the connection open.
        #expect(!lifecycle.mayKeepAlive(requestWantsKeepAlive: true, draining: false, isRefusal: false))
        lifecycle.responseCompleted(keepAlive: true, at: 3)
        #expect(lifecycle.state == .closingAfterOutput)
    }

    @Test func peerCloseWhileIdleClosesNow() {
        var lifecycle = fresh()
        #expect(lifecycle.inputEnded(at: 1) == .close(nil))
        lifecycle.closed()
        #expect(lifecycle.isClosed)
        #expect(lifecycle.bytesRead(10, at: 2).parse == false)
        #expect(lifecycle.deadline(now: 100 * Self.second, facts: .init(), timeouts: Self.timeouts) == .none)
    }

    /// A connection idle after `served` keep-alive responses.
    func idleAfterOneRequest() -> ConnectionLifecycle {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 1)
        _ = lifecycle.requestDispatched(at: 1)
        lifecycle.responseCompleted(keepAlive: true, at: 2)
        return lifecycle
    }

    @Test func drainClosesIdleConnectionsAndLetsBusyOnesFinish() {
        var idle = idleAfterOneRequest()
        #expect(idle.drain(facts: .init(draining: true)) == .close(nil))

        var idleWithOutput = idleAfterOneRequest()
        #expect(idleWithOutput.drain(facts: .init(outputPending: true, draining: true)) == .none)
        #expect(idleWithOutput.state == .closingAfterOutput)

        var receiving = fresh()
        receiving.requestBytesArrived(at: 1)
        #expect(receiving.drain(facts: .init(headPending: true, draining: true)) == .none)
        #expect(receiving.state == .receivingRequest)

        var busy = fresh()
        busy.requestBytesArrived(at: 1)
        _ = busy.requestDispatched(at: 1)
        #expect(busy.drain(facts: .init(draining: true)) == .none)
        #expect(!busy.mayKeepAlive(requestWantsKeepAlive: true, draining: true, isRefusal: false))
    }

    /// A connection that has not sent its first request may have it on the wire (a proxy that
    /// opens a connection per request): drain keeps it, it is answered with `Connection: close`,
    /// and one that stays silent gets the header timeout's 408 as always.
    @Test func drainKeepsAConnectionWhoseFirstRequestMayBeOnTheWire() {
        var new = fresh()
        #expect(new.drain(facts: .init(draining: true)) == .none)
        #expect(new.state == .awaitingRequest)
        #expect(new.deadline(now: 5 * Self.second, facts: .init(draining: true), timeouts: Self.timeouts) == .none)
        #expect(
            new.deadline(now: 11 * Self.second, facts: .init(draining: true), timeouts: Self.timeouts)
                == .reject(status: 408, message: "No request was received in time."))
        #expect(new.bytesRead(40, at: 6 * Self.second).parse)
        new.requestBytesArrived(at: 6 * Self.second)
        _ = new.requestDispatched(at: 6 * Self.second)
        #expect(!new.mayKeepAlive(requestWantsKeepAlive: true, draining: true, isRefusal: false))
    }

    @Test func headerAndBodyTimeoutsAnswer408() {
        var slowHead = fresh()
        slowHead.requestBytesArrived(at: 1 * Self.second)
        let head = ConnectionLifecycle.Facts(headPending: true)
        #expect(slowHead.deadline(now: 10 * Self.second, facts: head, timeouts: Self.timeouts) == .none)
        #expect(
            slowHead.deadline(now: 12 * Self.second, facts: head, timeouts: Self.timeouts)
                == .reject(status: 408, message: "The request header was not received in time."))

        var slowBody = fresh()
        #expect(slowBody.bytesRead(100, at: 5 * Self.second).parse)
        let body = ConnectionLifecycle.Facts(readingBody: true, headPending: true)
        #expect(slowBody.deadline(now: 34 * Self.second, facts: body, timeouts: Self.timeouts) == .none)
        #expect(
            slowBody.deadline(now: 36 * Self.second, facts: body, timeouts: Self.timeouts)
                == .reject(status: 408, message: "The request body was not received in time."))

        let silent = fresh()
        #expect(
            silent.deadline(now: 11 * Self.second, facts: .init(), timeouts: Self.timeouts)
                == .reject(status: 408, message: "No request was received in time."))
    }

    @Test func idleKeepAliveTimesOutAndNothingTimesOutWhileResponding() {
        var lifecycle = fresh()
        lifecycle.requestBytesArrived(at: 0)
        _ = lifecycle.requestDispatched(at: 0)
        // A long generation is not a timeout.
        #expect(lifecycle.deadline(now: 1000 * Self.second, facts: .init(), timeouts: Self.timeouts) == .none)
        lifecycle.responseCompleted(keepAlive: true, at: 1000 * Self.second)
        #expect(lifecycle.deadline(now: 1059 * Self.second, facts: .init(), timeouts: Self.timeouts) == .none)
        #expect(lifecycle.deadline(now: 1061 * Self.second, facts: .init(), timeouts: Self.timeouts) == .close(nil))
        // Draining closes an idle connection at the next sweep.
        #expect(
            lifecycle.deadline(now: 1001 * Self.second, facts: .init(draining: true), timeouts: Self.timeouts)
                == .close(nil))
    }

    @Test func stalledOutputAndSlowHandshakeClose() {
        var lifecycle = fresh()
        lifecycle.outputProgressed(at: 1 * Self.second)
        let stalled = ConnectionLifecycle.Facts(outputPending: true)
        #expect(lifecycle.deadline(now: 30 * Self.second, facts: stalled, timeouts: Self.timeouts) == .none)
        #expect(lifecycle.deadline(now: 32 * Self.second, facts: stalled, timeouts: Self.timeouts) == .close(.sendTimedOut))

        let handshaking = ConnectionLifecycle.Facts(handshakePending: true)
        #expect(fresh().deadline(now: 11 * Self.second, facts: handshaking, timeouts: Self.timeouts) == .close(nil))
    }
}
