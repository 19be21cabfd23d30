/// The request line and header section of a request, as parsed and validated.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method token, case-sensitive as RFC 9110 requires (`GET`, `POST`, ...).
    public var method: String
    /// The request target exactly as sent (origin-form `/path?query`, absolute-form, `*`, or authority).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: String, target: String, version: HTTPVersion, headers: HTTPHeaders) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The path part of the target, without the query; for absolute-form targets the path after
    /// the authority (`/` when empty).
    public var path: String { Self.path(of: target) }

    /// The path part of `target` (see ``path``); for callers that hold only the target.
    static func path(of target: String) -> String {
        // The common case, origin-form without a query, is the target itself.
        var text = target
        let isPlainPath = text.withUTF8 { bytes in
            bytes.first == UInt8(ascii: "/") && !bytes.contains(UInt8(ascii: "?"))
        }
        if isPlainPath { return target }
        var rest = Substring(target)
        if !rest.hasPrefix("/"), let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            rest = rest[rest.index(colon, offsetBy: 3)...]
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }), rest[slash] == "/" else {
                return "/"
            }
            rest = rest[slash...]
        }
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        return String(rest)
    }

    /// The query string after `?`, without the `?`; nil when the target has none.
    public var query: String? {
        guard let mark = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: mark)...])
    }

    /// Whether the client asked to keep the connection open after this exchange: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var wantsKeepAlive: Bool {
        if headers.containsListElement("close", for: "Connection") { return false }
        return version.minor >= 1 || headers.containsListElement("keep-alive", for: "Connection")
    }

    /// Whether the client sent `Expect: 100-continue`.
    public var expectsContinue: Bool {
        headers.containsListElement("100-continue", for: "Expect")
    }
}

/// A complete request: head, body (de-chunked) and where it came from.
public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    /// The body as received, after chunked decoding; empty when there was none.
    public var body: [UInt8]
    /// The peer's address as text (`127.0.0.1:53122`, `[::1]:53122`).
    public var remoteAddress: String
    /// Values of `{name}` segments of the route pattern that matched, filled in by ``Router``.
    public var pathParameters: [String: String]
    /// The request's id (``RequestID``): the client's `X-Request-ID` when well-formed, else one
    /// the server made. The response carries it, and so do the access log line and error bodies.
    public var id: RequestID

    public init(
        head: HTTPRequestHead, body: [UInt8] = [], remoteAddress: String = "",
        pathParameters: [String: String] = [:], id: RequestID = RequestID("-")
    ) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
        self.pathParameters = pathParameters
        self.id = id
    }

    /// The request's id as text (``id``).
    public var requestID: String { id.text }

    public var method: String { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }
    public var version: HTTPVersion { head.version }
}
