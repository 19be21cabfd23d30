import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP/1.1 server on non-blocking sockets and Dispatch sources.
///
/// Connections are spread over a few serial queues (one per core by default); no thread is ever
/// dedicated to a connection and handlers must not block (see ``HTTPHandler`` and
/// ``HTTPResponder``).
///
/// ```swift
/// let router = Router()
/// router.get("/health") { _, responder in responder.respond(.json("{\"status\":\"ok\"}")) }
/// let server = HTTPServer(configuration: configuration, handler: router.handler)
/// try server.start()                       // binds; server.port is the port in use
/// server.shutdown { exit(0) }              // on SIGTERM: drain, then stop
/// ```
public final class HTTPServer: @unchecked Sendable {
    enum State { case created, running, draining, stopped }

    public let configuration: HTTPServerConfiguration
    private let context: HTTPServerContext
    private let loops: [IOLoop]
    private let acceptQueue = DispatchQueue(label: "kiln.http.accept")
    private let lock = NSLock()
    private var state = State.created
    private var acceptSources: [DispatchSourceRead] = []
    private var boundPort = 0
    private var boundAddresses: [String] = []
    private var nextLoopIndex = 0
    private var nextConnectionID = 0
    private var shutdownCallbacks: [@Sendable () -> Void] = []

    /// - Parameters:
    ///   - logger: where the server logs its own events.
    ///   - accessLog: one line per request; by default through `logger`.
    ///   - observer: metrics hooks.
    ///   - handler: the application, usually ``Router/handler``.
    public init(
        configuration: HTTPServerConfiguration, logger: Logger = Logger(label: "kiln.http"),
        accessLog: AccessLog? = nil, observer: HTTPServerObserver? = nil,
        handler: @escaping HTTPHandler
    ) {
        self.configuration = configuration
        context = HTTPServerContext(
            configuration: configuration, handler: handler, logger: logger,
            accessLog: accessLog ?? AccessLog(logger: logger), observer: observer)
        var queueCount = configuration.ioQueueCount
        if queueCount <= 0 { queueCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        loops = (0..<queueCount).map { index -> IOLoop in
            #if os(Linux)
                if configuration.eventMechanism == .epoll { return EpollIOLoop(name: "kiln.http.io.\(index)") }
            #endif
            return DispatchIOLoop(label: "kiln.http.io.\(index)")
        }
    }

    /// The TCP port listened on (the chosen one when the configuration asked for 0).
    public var port: Int { lock.withLock { boundPort } }

    /// The addresses listened on, as `host:port` text.
    public var addresses: [String] { lock.withLock { boundAddresses } }

    /// Open connections, refused ones not counted.
    public var openConnectionCount: Int { context.connectionCount }

    /// True from the start of a shutdown on: readiness should report 503.
    public var isDraining: Bool { lock.withLock { state == .draining || state == .stopped } }

    /// Binds and starts accepting. Returns once the port is bound.
    public func start() throws(SocketError) {
        // A client that vanishes must never kill the process: writes use MSG_NOSIGNAL as well.
        signal(SIGPIPE, SIG_IGN)
        let listeners = try SocketListener.listen(
            host: configuration.host, port: configuration.port,
            backlog: configuration.listenBacklog)
        do {
            for loop in loops { try loop.start(sweepInterval: configuration.timerResolution) }
        } catch {
            for listener in listeners { close(listener.fileDescriptor) }
            for loop in loops { loop.stop() }
            throw error
        }
        lock.withLock {
            state = .running
            boundPort = listeners.first?.port ?? 0
            boundAddresses = listeners.map(\.address)
        }
        for listener in listeners {
            let source = DispatchSource.makeReadSource(fileDescriptor: listener.fileDescriptor, queue: acceptQueue)
            let descriptor = listener.fileDescriptor
            source.setEventHandler { [unowned self] in self.acceptConnections(from: descriptor, source: source) }
            source.setCancelHandler { Glibc.close(descriptor) }
            acceptSources.append(source)
            source.resume()
        }
        context.logger.info("listening", metadata: ["addresses": .string(listeners.map(\.address).joined(separator: ", "))])
    }

    /// Accepts up to 64 pending connections; true when it took 64 (more may be waiting).
    @discardableResult
    private func acceptConnections(from listener: Int32, source: DispatchSourceRead) -> Bool {
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener, $0, &length)
                }
            }
            if client < 0 {
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    // Out of descriptors: pause accepting briefly rather than spin on a readable listener.
                    context.logger.error("accept failed, pausing", metadata: ["errno": .stringConvertible(code)])
                    source.suspend()
                    acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { source.resume() }
                }
                return false
            }
            admit(client, address: SocketAddress.describe(storage))
        }
        return true
    }

    private func admit(_ client: Int32, address: String) {
        var admission = context.admit()
        if admission == .refuse && configuration.securityLayerFactory != nil {
            // A 503 cannot be sent before a handshake; closing is the clean refusal there.
            context.connectionClosed(isRefusal: true)
            admission = .drop
        }
        guard admission != .drop else {
            Glibc.close(client)
            return
        }
        // accept4 is not visible from Swift's Glibc module; set the flags afterwards instead.
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var security: ConnectionSecurityLayer? = nil
        if admission == .accept, let factory = configuration.securityLayerFactory {
            do {
                security = try factory()
            } catch {
                context.logger.error("cannot create a TLS session", metadata: ["error": .string("\(error)")])
                context.connectionClosed(isRefusal: false)
                Glibc.close(client)
                return
            }
        }
        let loop = loops[nextLoopIndex % loops.count]
        nextLoopIndex += 1
        nextConnectionID += 1
        let connection = HTTPConnection(
            id: nextConnectionID, fileDescriptor: client, remoteAddress: address,
            loop: loop, context: context, security: security,
            isRefusal: admission == .refuse)
        context.connectionOpened(isRefusal: admission == .refuse)
        loop.execute { connection.start() }
    }

    /// Stops accepting, lets in-flight requests and streams finish for up to `gracePeriod`
    /// seconds (the configured one by default), closes what is left, then calls `completion`.
    public func shutdown(gracePeriod: Double? = nil, completion: @escaping @Sendable () -> Void = {}) {
        let grace = gracePeriod ?? configuration.shutdownGracePeriod
        acceptQueue.async { [self] in
            let shouldStart: Bool = lock.withLock {
                switch state {
                case .stopped:
                    return false
                case .draining:
                    shutdownCallbacks.append(completion)
                    return false
                case .created, .running:
                    state = .draining
                    shutdownCallbacks.append(completion)
                    return true
                }
            }
            guard shouldStart else {
                if isStopped { completion() }
                return
            }
            context.logger.info("shutting down", metadata: ["grace_seconds": .stringConvertible(grace)])
            // Connections the kernel completed but nobody accepted yet are reset when the
            // listening socket closes, after their clients may have sent a request: take them
            // first (they are served like any open connection), then stop listening at once. The
            // stop is a shutdown(2) here, not the close in the source's cancel handler, which runs
            // later on its queue: a connection completed in between would be reset after its
            // client (a proxy) wrote a POST it may not retry, while one arriving after the
            // shutdown is refused, which a proxy retries elsewhere.
            for source in acceptSources {
                while acceptConnections(from: Int32(source.handle), source: source) {}
                _ = Glibc.shutdown(Int32(source.handle), Int32(SHUT_RD))
                source.cancel()
            }
            acceptSources = []
            for loop in loops {
                loop.execute {
                    loop.isDraining = true
                    for connection in Array(loop.connections.values) { connection.beginDraining() }
                }
            }
            acceptQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(grace, 0) * 1e9))) { [self] in
                for loop in loops {
                    loop.execute {
                        for connection in Array(loop.connections.values) { connection.close(reason: .serverShutdown) }
                    }
                }
            }
            context.whenAllClosed { [self] in finishShutdown() }
        }
    }

    private var isStopped: Bool { lock.withLock { state == .stopped } }

    private func finishShutdown() {
        let callbacks: [@Sendable () -> Void] = lock.withLock {
            state = .stopped
            defer { shutdownCallbacks = [] }
            return shutdownCallbacks
        }
        for loop in loops { loop.stop() }
        context.logger.info("stopped")
        for callback in callbacks { callback() }
    }

    /// ``shutdown(gracePeriod:completion:)`` that waits until the server stopped.
    public func shutdownAndWait(gracePeriod: Double? = nil) {
        let done = DispatchSemaphore(value: 0)
        shutdown(gracePeriod: gracePeriod) { done.signal() }
        done.wait()
    }
}
