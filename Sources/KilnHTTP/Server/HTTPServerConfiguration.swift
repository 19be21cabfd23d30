/// Everything an ``HTTPServer`` can be told: where to listen, limits and timeouts.
///
/// Defaults follow nginx and h2o where they have an equivalent; every limit is here so that an
/// operator can change it (the `kiln serve` flags and `Config/kiln.toml` map onto these fields).
public struct HTTPServerConfiguration: Sendable {
    /// Host name or address to listen on; a name resolving to several addresses (`localhost`)
    /// listens on each, and `::` accepts IPv4 and IPv6 alike.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free one (read it back from ``HTTPServer/port``).
    public var port: Int = 8080
    /// Length of the kernel's queue of connections not yet accepted.
    public var listenBacklog: Int32 = 511
    /// Event loops that run the connections (threads with ``EventMechanism/epoll``, serial
    /// queues with ``EventMechanism/dispatch``); 0 means one per core.
    public var ioQueueCount: Int = 0
    /// How socket events are watched: Dispatch by default on every platform, epoll threads as a
    /// Linux opt-in.
    public var eventMechanism: EventMechanism = .platformDefault

    /// Parser limits: target length, header bytes and count, body size, chunk line.
    public var parserLimits = HTTPParserLimits()
    /// Most open connections; beyond it new ones get a 503 and are closed while the others keep working.
    public var maxConnections: Int = 1024
    /// Bytes of unsent output one connection may hold when more is queued (a client that does not
    /// read is dropped); one response or event larger than this still goes out whole.
    public var maxBufferedOutputBytes: Int = 8 * 1024 * 1024

    /// Longest `X-Request-ID` taken from a client (``RequestID``); a longer or malformed one is
    /// replaced by an id the server makes.
    public var maxRequestIDBytes: Int = 128

    /// Seconds to receive a whole request head (408 after; slowloris cannot hold a connection).
    public var headerReadTimeout: Double = 10
    /// Seconds without a byte while a request body is arriving (408 after).
    public var bodyIdleTimeout: Double = 30
    /// Seconds an idle keep-alive connection stays open between requests.
    public var keepAliveTimeout: Double = 60
    /// Seconds without any progress while output is waiting to be sent (connection dropped after).
    public var sendTimeout: Double = 30
    /// Seconds to complete a TLS handshake.
    public var handshakeTimeout: Double = 10
    /// Seconds to keep reading (and discarding) after an error response, so the client sees it.
    public var lingerTimeout: Double = 2
    /// Seconds in-flight requests and streams get to finish after shutdown begins.
    public var shutdownGracePeriod: Double = 30
    /// How often deadlines are checked; timeouts fire within this much of their value.
    public var timerResolution: Double = 0.25

    /// Makes the per-connection security layer (TLS); nil serves plain HTTP.
    public var securityLayerFactory: (@Sendable () throws -> ConnectionSecurityLayer)?

    /// gzip for responses (JSON and text above a size) and for request bodies.
    public var compression = CompressionSettings()

    /// Value of the `Server` header; nil sends none.
    public var serverName: String? = "kiln"

    public init() {}

    /// How the server learns that sockets are ready.
    public enum EventMechanism: String, Sendable, CaseIterable {
        /// One thread per event loop blocked in `epoll_wait` (Linux only), with a mailbox and an
        /// `eventfd` for work from other threads.
        case epoll
        /// Serial Dispatch queues: Dispatch owns the threads and the wakeups. On Linux one
        /// Dispatch read source per loop watches an epoll set of the loop's sockets; elsewhere
        /// each connection has a read and a write source.
        case dispatch

        /// ``dispatch``, on every platform (the server is built on Dispatch, as Kiln's
        /// specification asks; ``epoll`` is an opt-in).
        public static var platformDefault: EventMechanism { .dispatch }

        /// Whether this platform offers the mechanism.
        public var isAvailable: Bool {
            #if os(Linux)
                return true
            #else
                return self == .dispatch
            #endif
        }
    }
}
