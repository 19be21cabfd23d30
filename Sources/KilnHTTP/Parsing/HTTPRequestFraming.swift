/// How the body of a request is delimited, decided from its headers by the rules of RFC 9112 §6,
/// refusing every ambiguous combination (the request-smuggling cases).
enum HTTPRequestFraming: Equatable {
    case none
    case length(Int)
    case chunked

    /// Transfer codings that exist (IANA registry) but this server does not decode: 501.
    static let knownCodings: Set<String> = [
        "chunked", "gzip", "x-gzip", "deflate", "compress",
        "x-compress", "trailers",
    ]

    /// uri-host and port characters (unreserved, sub-delims, `%`, `:` and IPv6 brackets) as
    /// ASCII bit masks, low and high 64 codes.
    static let hostMaskLow: UInt64 = 0x2FFF_7FF2_0000_0000
    static let hostMaskHigh: UInt64 = 0x47FF_FFFE_AFFF_FFFE

    static func framing(of head: HTTPRequestHead, limits: HTTPParserLimits) throws(HTTPParseError) -> HTTPRequestFraming {
        // One pass finds what framing depends on; the lists are built only when such fields exist.
        var hostCount = 0
        var host: String? = nil
        var hasTransferEncoding = false
        var hasContentLength = false
        for field in head.headers {
            let name = field.name
            if HTTPHeaders.namesEqual(name, "Host") {
                hostCount += 1
                if host == nil { host = field.value }
            } else if HTTPHeaders.namesEqual(name, "Transfer-Encoding") {
                hasTransferEncoding = true
            } else if HTTPHeaders.namesEqual(name, "Content-Length") {
                hasContentLength = true
            }
        }
        try validateHost(count: hostCount, first: host, version: head.version)
        guard hasTransferEncoding || hasContentLength else { return .none }
        let transferEncodings = head.headers.values(for: "Transfer-Encoding")
        let contentLengths = head.headers.values(for: "Content-Length")
        if !transferEncodings.isEmpty {
            guard contentLengths.isEmpty else {
                throw .badRequest("both Content-Length and Transfer-Encoding")
            }
            guard head.version.minor >= 1 else {
                throw .badRequest("Transfer-Encoding in an HTTP/1.0 request")
            }
            return try chunkedFraming(transferEncodings)
        }
        if !contentLengths.isEmpty {
            let length = try contentLength(contentLengths)
            guard length <= limits.maxBodyBytes else { throw .contentTooLarge }
            return .length(length)
        }
        return .none
    }

    /// HTTP/1.1 requests carry exactly one Host (RFC 9112 §3.2) with an authority's characters.
    static func validateHost(count: Int, first host: String?, version: HTTPVersion) throws(HTTPParseError) {
        if count > 1 { throw .badRequest("more than one Host header") }
        if version.minor >= 1 && count == 0 { throw .badRequest("missing Host header") }
        guard var host else { return }
        let valid = host.withUTF8 { bytes in
            bytes.allSatisfy { HTTPSyntax.inMask($0, low: hostMaskLow, high: hostMaskHigh) }
        }
        if !valid { throw .badRequest("invalid Host header") }
    }

    static func chunkedFraming(_ values: [String]) throws(HTTPParseError) -> HTTPRequestFraming {
        var codings: [String] = []
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let coding = HTTPHeaders.trimmed(element).lowercased()
                guard !coding.isEmpty else { throw .badRequest("empty transfer coding") }
                codings.append(coding)
            }
        }
        for coding in codings {
            let name =
                coding.split(separator: ";", maxSplits: 1).first.map {
                    HTTPHeaders.trimmed($0)
                } ?? coding
            guard knownCodings.contains(name) else { throw .notImplemented("transfer coding \(name)") }
        }
        guard codings.last == "chunked" else { throw .badRequest("chunked is not the final transfer coding") }
        guard codings.filter({ $0.hasPrefix("chunked") }).count == 1 else {
            throw .badRequest("chunked applied more than once")
        }
        guard codings.count == 1 else { throw .notImplemented("transfer codings besides chunked") }
        return .chunked
    }

    /// One decimal length, possibly repeated identically (`5, 5` or two fields of `5`); anything
    /// else (`+3`, `-1`, `0x3`, empty, overflowing, or two different values) is refused.
    static func contentLength(_ values: [String]) throws(HTTPParseError) -> Int {
        var result: Int? = nil
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let text = HTTPHeaders.trimmed(element)
                guard !text.isEmpty, text.utf8.count <= 18,
                    text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                    let length = Int(text)
                else {
                    throw .badRequest("invalid Content-Length")
                }
                if let previous = result, previous != length {
                    throw .badRequest("differing Content-Length values")
                }
                result = length
            }
        }
        guard let length = result else { throw .badRequest("invalid Content-Length") }
        return length
    }
}
