/// When the server uses gzip.
///
/// Responses are compressed only when the client accepts gzip, the body is JSON or text and at
/// least ``minimumResponseBytes`` long; streams (Server-Sent Events above all) never are, since
/// compressing them would mean buffering events. Request bodies sent with
/// `Content-Encoding: gzip` are inflated as they arrive, the body limit applying to the inflated
/// size (a decompression bomb gets 413).
public struct CompressionSettings: Sendable, Equatable {
    /// Compress eligible responses.
    public var compressesResponses = true
    /// Smallest body worth compressing, in bytes.
    public var minimumResponseBytes = 1024
    /// zlib level, 1 (fast) to 9 (small).
    public var level: Int32 = 6
    /// Accept `Content-Encoding: gzip` request bodies (415 otherwise).
    public var acceptsGzipRequests = true

    public init(compressesResponses: Bool = true, minimumResponseBytes: Int = 1024, level: Int32 = 6,
                acceptsGzipRequests: Bool = true) {
        self.compressesResponses = compressesResponses
        self.minimumResponseBytes = minimumResponseBytes
        self.level = level
        self.acceptsGzipRequests = acceptsGzipRequests
    }

    /// JSON and text are worth compressing; event streams are excluded on purpose.
    public static func isCompressible(contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";").first.map { HTTPHeaders.trimmed($0).lowercased() } ?? ""
        if type == "text/event-stream" { return false }
        return type.hasPrefix("text/") || type == "application/json" || type.hasSuffix("+json")
            || type == "application/javascript" || type == "application/xml" || type == "application/x-ndjson"
    }
}
