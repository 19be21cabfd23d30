import Foundation
import Logging

/// What every connection of a server shares: configuration, handler, logging, metrics hooks
/// and the connection count. Immutable after start except the counters, which are locked.
final class HTTPServerContext: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    let logger: Logger
    let accessLog: AccessLog
    let observer: HTTPServerObserver?
    /// `Server: …\r\n`, or nil when no Server header is sent.
    let serverLine: [UInt8]?
    /// The configuration's timeouts in nanoseconds, converted once.
    let timeouts: ConnectionLifecycle.Timeouts
    private let lock = NSLock()
    private var openConnections = 0
    private var openRefusals = 0
    private var onAllClosed: (() -> Void)?

    init(
        configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler, logger: Logger,
        accessLog: AccessLog, observer: HTTPServerObserver?
    ) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.accessLog = accessLog
        self.observer = observer
        serverLine = HTTPResponseHeadEncoder.serverLine(for: configuration.serverName)
        timeouts = ConnectionLifecycle.Timeouts(configuration)
    }

    /// Connections being refused (503) are bounded too, so a flood cannot exhaust descriptors.
    static let maxConcurrentRefusals = 64

    enum Admission { case accept, refuse, drop }

    /// Decides what to do with a newly accepted socket and counts it.
    func admit() -> Admission {
        lock.withLock {
            if openConnections < configuration.maxConnections {
                openConnections += 1
                return .accept
            }
            if openRefusals < Self.maxConcurrentRefusals {
                openRefusals += 1
                return .refuse
            }
            return .drop
        }
    }

    var connectionCount: Int { lock.withLock { openConnections } }

    func connectionOpened(isRefusal: Bool) {
        if !isRefusal { observer?.connectionOpened() }
    }

    func connectionClosed(isRefusal: Bool) {
        let callback: (() -> Void)? = lock.withLock {
            if isRefusal { openRefusals -= 1 } else { openConnections -= 1 }
            guard openConnections == 0 && openRefusals == 0, let callback = onAllClosed else { return nil }
            onAllClosed = nil
            return callback
        }
        if !isRefusal { observer?.connectionClosed() }
        callback?()
    }

    /// Runs `callback` once no connection is open (at once if none is).
    func whenAllClosed(_ callback: @escaping () -> Void) {
        let runNow: Bool = lock.withLock {
            if openConnections == 0 && openRefusals == 0 { return true }
            onAllClosed = callback
            return false
        }
        if runNow { callback() }
    }

    func requestCompleted(_ record: HTTPRequestRecord) {
        accessLog.record(record)
        observer?.requestCompleted(record)
    }
}

/// A request handler: it receives the complete request and answers through the responder, at
/// once or later from any thread. It runs on a connection queue and must not block.
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void
