/// What the server reports about one finished request: the access log line and the metrics.
public struct HTTPRequestRecord: Sendable {
    public var method: String
    /// The path without query; `-` when the request line could not be parsed.
    public var path: String
    /// The route pattern that handled it (`/v1/models/{id}`), or `unmatched`: a label of bounded
    /// cardinality for metrics.
    public var route: String
    public var status: Int
    /// Bytes of response body sent (chunk framing excluded).
    public var responseBodyBytes: Int
    /// Bytes of request body received (after chunked decoding).
    public var requestBodyBytes: Int
    /// Seconds from the request head's arrival to the response's last byte being queued.
    public var duration: Double
    public var remoteAddress: String
    /// Whether the response was streamed (chunked or SSE).
    public var streamed: Bool
    /// Set when the request was cancelled before its response completed.
    public var cancellation: CancellationReason?
    /// The request's id, as sent in the response's `X-Request-ID`.
    public var id: RequestID
    /// ``id`` as text.
    public var requestID: String { id.text }

    public init(
        method: String, path: String, route: String, status: Int, responseBodyBytes: Int,
        requestBodyBytes: Int, duration: Double, remoteAddress: String, streamed: Bool,
        cancellation: CancellationReason?, id: RequestID = RequestID("-")
    ) {
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.responseBodyBytes = responseBodyBytes
        self.requestBodyBytes = requestBodyBytes
        self.duration = duration
        self.remoteAddress = remoteAddress
        self.streamed = streamed
        self.cancellation = cancellation
        self.id = id
    }
}

/// Hooks the server calls as it works, for metrics. Called from the connections' queues, often
/// and concurrently: implementations must be thread-safe and cheap (atomic counters).
public protocol HTTPServerObserver: AnyObject, Sendable {
    func connectionOpened()
    func connectionClosed()
    /// Bytes read from sockets (before TLS decryption).
    func bytesReceived(_ count: Int)
    /// Bytes written to sockets (after TLS encryption).
    func bytesSent(_ count: Int)
    func requestCompleted(_ record: HTTPRequestRecord)
}
