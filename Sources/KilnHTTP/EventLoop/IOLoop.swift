import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One event loop and the connections it runs: a serial Dispatch queue (``DispatchIOLoop``, the
/// default) or an epoll thread (``EpollIOLoop``, a Linux opt-in).
///
/// All state of a connection is touched only on its loop, so connections need no locks; other
/// threads reach a connection through ``execute(_:)``. A single periodic sweep per loop checks
/// every connection's deadlines, which costs nothing per request (a timestamp store) where
/// per-connection timers would cost a reschedule on every read.
///
/// This class holds what both mechanisms share; subclasses provide the events.
class IOLoop: @unchecked Sendable {
    private static let identityLock = NSLock()
    nonisolated(unsafe) private static var nextIdentity = 1

    let identity: Int
    /// Live connections by id; loop-confined.
    var connections: [Int: HTTPConnection] = [:]
    /// Set once the server drains: connections close when idle and stop keeping alive.
    var isDraining = false
    /// Scratch space every read on this loop lands in; loop-confined.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Makes the ids of requests that come without a usable one; loop-confined.
    var requestIDs = RequestIDGenerator()
    private var cachedDateSecond: Int = -1
    private var cachedDate: [UInt8] = []

    init(readBufferSize: Int = 64 * 1024) {
        identity = Self.identityLock.withLock {
            defer { Self.nextIdentity += 1 }
            return Self.nextIdentity
        }
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Whether the calling code runs on this loop.
    var isCurrent: Bool { fatalError("IOLoop subclasses provide isCurrent") }

    /// Runs `work` on this loop: at once when already on it, otherwise queued.
    func execute(_ work: @escaping @Sendable () -> Void) {
        fatalError("IOLoop subclasses provide execute")
    }

    /// Starts delivering socket events of `fileDescriptor` to `connection` (reading on, writing
    /// off); called on the loop. The watch owns the descriptor from now on and closes it when
    /// cancelled.
    func watch(_ fileDescriptor: Int32, for connection: HTTPConnection) -> SocketWatch {
        fatalError("IOLoop subclasses provide watch")
    }

    /// Starts the loop and its deadline sweep, every `interval` seconds.
    func start(sweepInterval interval: Double) throws(SocketError) {
        fatalError("IOLoop subclasses provide start")
    }

    /// Stops the sweep and the loop once every connection is closed; work queued afterwards is dropped.
    func stop() {
        fatalError("IOLoop subclasses provide stop")
    }

    /// Checks every connection's deadlines.
    func sweep() {
        guard !connections.isEmpty else { return }
        let now = MonotonicClock.nanoseconds()
        for connection in Array(connections.values) { connection.checkDeadlines(now: now) }
    }

    /// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`, formatted at most once a second.
    func dateHeaderLine() -> [UInt8] {
        var now = time(nil)
        if Int(now) == cachedDateSecond { return cachedDate }
        var parts = tm()
        gmtime_r(&now, &parts)
        var text = [CChar](repeating: 0, count: 64)
        let length = strftime(&text, text.count, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts)
        cachedDate = text[0..<length].map { UInt8(bitPattern: $0) }
        cachedDateSecond = Int(now)
        return cachedDate
    }
}

/// Interest in one socket's events, owned by its connection; loop-confined.
///
/// Reading starts on and writing off; a connection turns writing on only when a send would
/// block, so a response that fits in the socket buffer costs no event registration at all.
class SocketWatch {
    /// Whether readable events are delivered.
    var isReading: Bool { fatalError("SocketWatch subclasses provide isReading") }
    /// Whether writable events are delivered.
    var isWriting: Bool { fatalError("SocketWatch subclasses provide isWriting") }
    func setReading(_ enabled: Bool) { fatalError("SocketWatch subclasses provide setReading") }
    func setWriting(_ enabled: Bool) { fatalError("SocketWatch subclasses provide setWriting") }
    /// Stops all events and closes the descriptor once no event can arrive any more.
    func cancel() { fatalError("SocketWatch subclasses provide cancel") }
}

/// Monotonic nanoseconds (the clock Dispatch's `uptimeNanoseconds` reads, without the wrapper).
enum MonotonicClock {
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
