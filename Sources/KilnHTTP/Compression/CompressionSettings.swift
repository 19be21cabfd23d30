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

    public init(
        compressesResponses: Bool = true, minimumResponseBytes: Int = 1024, level: Int32 = 6,
        acceptsGzipRequests: Bool = true
    ) {
        self.compressesResponses = compressesResponses
        self.minimumResponseBytes = minimumResponseBytes
        self.level = level
        self.acceptsGzipRequests = acceptsGzipRequests
    }

    /// JSON and text are worth compressing; event streams are excluded on purpose.
    public static func isCompressible(contentType: String?) -> Bool {
        guard let contentType else { return false }
        if contentType == "application/json" { return true }  // what almost every response is
        // The media type before any parameter, trimmed, compared without regard to ASCII case;
        // this runs for every response, so it works on the bytes without making strings.
        let bytes = contentType.utf8
        var start = bytes.startIndex
        var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.endIndex
        while start < end, bytes[start] == HTTPSyntax.space || bytes[start] == HTTPSyntax.tab { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard bytes[before] == HTTPSyntax.space || bytes[before] == HTTPSyntax.tab else { break }
            end = before
        }
        let type = bytes[start..<end]
        func equals(_ literal: String) -> Bool {
            type.count == literal.utf8.count && zip(type, literal.utf8).allSatisfy { HTTPSyntax.lowercased($0) == $1 }
        }
        if equals("text/event-stream") { return false }
        if type.count >= 5 && zip(type, "text/".utf8).allSatisfy({ HTTPSyntax.lowercased($0) == $1 }) { return true }
        if type.count >= 5 && zip(type.suffix(5), "+json".utf8).allSatisfy({ HTTPSyntax.lowercased($0) == $1 }) { return true }
        return equals("application/json") || equals("application/javascript") || equals("application/xml")
            || equals("application/x-ndjson")
    }
}
