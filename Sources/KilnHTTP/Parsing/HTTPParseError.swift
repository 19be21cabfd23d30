/// Why a request could not be parsed or accepted; each case maps to the status the server answers
/// with before it closes the connection.
public enum HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Malformed syntax or framing (smuggling attempts included): 400.
    case badRequest(String)
    /// The request target is longer than allowed: 414.
    case uriTooLong
    /// The header section (or trailer section) is too large or has too many fields: 431.
    case headerFieldsTooLarge(String)
    /// The declared or received body exceeds the maximum body size: 413.
    case contentTooLarge
    /// A transfer coding the server does not implement: 501.
    case notImplemented(String)
    /// An HTTP version other than 1.x: 505.
    case versionNotSupported

    /// The status code that answers this error.
    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .uriTooLong: return 414
        case .headerFieldsTooLarge: return 431
        case .contentTooLarge: return 413
        case .notImplemented: return 501
        case .versionNotSupported: return 505
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let reason): return "bad request: \(reason)"
        case .uriTooLong: return "request target too long"
        case .headerFieldsTooLarge(let reason): return "header fields too large: \(reason)"
        case .contentTooLarge: return "request body too large"
        case .notImplemented(let reason): return "not implemented: \(reason)"
        case .versionNotSupported: return "HTTP version not supported"
        }
    }
}

/// Limits the parser enforces before it allocates anything for a request.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest request target, in bytes (414 beyond).
    public var maxTargetBytes: Int = 8 * 1024
    /// Largest header section including the request line, in bytes (431 beyond); also caps trailers.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Most header fields in one request (431 beyond).
    public var maxHeaderCount: Int = 100
    /// Largest request body after chunked decoding, in bytes (413 beyond).
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    /// Longest chunk-size line including extensions, in bytes (400 beyond).
    public var maxChunkLineBytes: Int = 1024

    public init(
        maxTargetBytes: Int = 8 * 1024, maxHeaderBytes: Int = 32 * 1024,
        maxHeaderCount: Int = 100, maxBodyBytes: Int = 16 * 1024 * 1024,
        maxChunkLineBytes: Int = 1024
    ) {
        self.maxTargetBytes = maxTargetBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}
