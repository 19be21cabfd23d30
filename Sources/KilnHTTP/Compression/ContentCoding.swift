/// The content codings Kiln can apply to a response body or accept on a request body.
public enum ContentCoding: String, Sendable, Equatable, CaseIterable {
    case gzip
    case identity

    /// The value for a `Content-Encoding` header, or nil for `identity` (which is never sent).
    public var contentEncodingHeaderValue: String? {
        self == .gzip ? "gzip" : nil
    }

    /// Reads a request's `Content-Encoding` header value. Returns nil for any coding Kiln cannot
    /// decode (`br`, `deflate`, several stacked codings, …): the server answers 415 then.
    /// An empty value or `identity` means the body is not encoded; `x-gzip` is an alias of `gzip`.
    public init?(contentEncoding: String) {
        let name = ContentCoding.trimmingWhitespace(Substring(contentEncoding)).lowercased()
        switch name {
        case "", "identity": self = .identity
        case "gzip", "x-gzip": self = .gzip
        default: return nil
        }
    }

    /// Chooses the coding of a response from the request's `Accept-Encoding` header
    /// (RFC 9110 §12.5.3).
    ///
    /// - No header: `identity`. The RFC allows any coding then, but clients that send no
    ///   `Accept-Encoding` are often ones that cannot decode gzip.
    /// - An empty value: `identity` (the client wants no coding).
    /// - Otherwise each listed coding has a weight (`q`, default 1, 0 meaning "not acceptable");
    ///   `*` gives its weight to codings not listed; `x-gzip` counts as `gzip`. `gzip` is chosen when
    ///   its weight is above 0 and at least that of `identity` (the server prefers compressing on a
    ///   tie). `identity` is acceptable unless excluded by `identity;q=0`, or by `*;q=0` with no
    ///   `identity` entry; when not listed (and no `*`) it ranks below any acceptable coding.
    /// - Returns nil when neither coding is acceptable (the server may answer 406, or send the
    ///   response unencoded as RFC 9110 permits).
    ///
    /// Elements that do not parse (a bad token, a `q` outside 0…1 or with more than three decimals)
    /// are ignored, as if absent. When a coding is listed twice, its first entry counts.
    public static func negotiate(acceptEncoding: String?) -> ContentCoding? {
        guard let acceptEncoding else { return .identity }
        let weights = parseWeights(acceptEncoding)
        let star = weights["*"]
        let explicitGzip = [weights["gzip"], weights["x-gzip"]].compactMap { $0 }.max()
        let gzipWeight = explicitGzip ?? star ?? 0
        guard let identityWeight = weights["identity"] ?? star else {
            // identity not mentioned at all: always acceptable, but the least preferred.
            return gzipWeight > 0 ? .gzip : .identity
        }
        if gzipWeight > 0 && gzipWeight >= identityWeight { return .gzip }
        if identityWeight > 0 { return .identity }
        return nil
    }

    /// Maps each well-formed list element's coding (lowercased) to its weight in thousandths.
    static func parseWeights(_ field: String) -> [String: Int] {
        var weights: [String: Int] = [:]
        for element in field.split(separator: ",", omittingEmptySubsequences: false) {
            var parts = element.split(separator: ";", omittingEmptySubsequences: false).makeIterator()
            let coding = trimmingWhitespace(parts.next() ?? "").lowercased()
            guard !coding.isEmpty, coding.utf8.allSatisfy(isTokenCharacter) else { continue }
            var weight: Int? = 1000
            while let parameter = parts.next() {
                let pieces = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = trimmingWhitespace(pieces[0]).lowercased()
                guard name == "q" else { continue }  // other parameters carry no meaning here
                weight = pieces.count == 2 ? parseQualityValue(trimmingWhitespace(pieces[1])) : nil
            }
            guard let weight else { continue }
            if weights[coding] == nil { weights[coding] = weight }
        }
        return weights
    }

    /// Parses a qvalue (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`) into thousandths.
    static func parseQualityValue(_ text: Substring) -> Int? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else {
            return nil
        }
        var thousandths = Int(first - UInt8(ascii: "0")) * 1000
        if bytes.count == 1 { return thousandths }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return nil }
        var scale = 100
        for digit in bytes[2...] {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            thousandths += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return thousandths <= 1000 ? thousandths : nil
    }

    /// RFC 9110 `tchar`: the characters allowed in a token such as a coding name.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Removes optional whitespace (spaces and tabs) at both ends.
    static func trimmingWhitespace(_ text: Substring) -> Substring {
        let isOWS: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isOWS($0) }),
            let end = text.lastIndex(where: { !isOWS($0) })
        else { return "" }
        return text[start...end]
    }
}
