#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a complete header section (request line, field lines, final empty line) into an
/// ``HTTPRequestHead``, refusing anything outside RFC 9112's grammar.
enum HTTPHeadDecoder {
    /// Decodes `bytes`, which end with the CRLF CRLF that closes the section.
    ///
    /// `previous` is the head decoded before on the same connection. A keep-alive client sends
    /// mostly the same target and fields each time, so a part that repeats the previous one byte
    /// for byte takes its string from it (already validated) instead of being validated and made
    /// again, and a field section that repeats it whole shares its storage: comparing a few bytes
    /// costs far less than both.
    static func decode(
        _ bytes: ArraySlice<UInt8>, limits: HTTPParserLimits, previous: HTTPRequestHead? = nil
    ) throws(HTTPParseError) -> HTTPRequestHead {
        // Through a pointer: the slice's indexing is checked and retains its storage per access.
        try bytes.withUnsafeBufferPointer { bytes throws(HTTPParseError) in
            try decode(bytes, limits: limits, previous: previous)
        }
    }

    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPParserLimits, previous: HTTPRequestHead? = nil
    ) throws(HTTPParseError) -> HTTPRequestHead {
        // Lines are visited in place; the scanner already guaranteed a CR before every LF. The
        // request line is decoded before the loop so that the head is not an optional checked
        // (and copied) at every line.
        var index = bytes.startIndex
        while index < bytes.endIndex && bytes[index] != HTTPSyntax.lf { index += 1 }
        guard index < bytes.endIndex else { throw .badRequest("incomplete header section") }
        var head = try decodeRequestLine(
            UnsafeBufferPointer(rebasing: bytes[bytes.startIndex..<(index - 1)]), limits: limits,
            previousTarget: previous?.target)
        let previousFields = previous?.headers ?? HTTPHeaders()
        // While the fields repeat the previous ones in order, nothing is built: `repeated` counts
        // them, and `headers` is made only once one differs (or there are fewer).
        var repeated = 0
        var isRepeating = true
        var headers = HTTPHeaders()
        index += 1
        var lineStart = index
        while index < bytes.endIndex {
            if bytes[index] == HTTPSyntax.lf {
                let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<(index - 1)])
                // The empty line ends the section.
                if line.isEmpty {
                    if isRepeating {
                        headers = repeated == previousFields.count ? previousFields : previousFields.prefix(repeated)
                    }
                    head.headers = headers
                    return head
                }
                lineStart = index + 1
                if isRepeating {
                    if let field = previousFields.field(at: repeated), lineRepeats(line, field) {
                        repeated += 1
                        index += 1
                        continue
                    }
                    isRepeating = false
                    headers = previousFields.prefix(repeated)
                }
                let field = try decodeFieldLine(line)
                headers.add(name: field.name, value: field.value)
            }
            index += 1
        }
        throw .badRequest("incomplete header section")
    }

    static func decodeRequestLine(
        _ line: UnsafeBufferPointer<UInt8>, limits: HTTPParserLimits, previousTarget: String? = nil
    ) throws(HTTPParseError) -> HTTPRequestHead {
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.space) else {
            throw .badRequest("malformed request line")
        }
        let methodBytes = line[line.startIndex..<firstSpace]
        let rest = line[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: HTTPSyntax.space) else {
            throw .badRequest("malformed request line")
        }
        let targetBytes = rest[rest.startIndex..<secondSpace]
        let versionBytes = rest[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPSyntax.isToken) else {
            throw .badRequest("invalid method")
        }
        let target: String
        if let previousTarget, equals(UnsafeBufferPointer(rebasing: targetBytes), previousTarget) {
            target = previousTarget  // validated when it was first received
        } else {
            guard targetBytes.count <= limits.maxTargetBytes else { throw .uriTooLong }
            guard !targetBytes.isEmpty, targetBytes.allSatisfy(HTTPSyntax.isTargetByte) else {
                throw .badRequest("invalid request target")
            }
            target = String(decoding: targetBytes, as: UTF8.self)
        }
        let version = try decodeVersion(versionBytes)
        let method = commonMethod(UnsafeBufferPointer(rebasing: methodBytes)) ?? String(decoding: methodBytes, as: UTF8.self)
        if targetBytes.first != UInt8(ascii: "/") { try validateTargetForm(target, method: method) }
        return HTTPRequestHead(method: method, target: target, version: version, headers: HTTPHeaders())
    }

    /// `HTTP/1.0` and `HTTP/1.1` are spoken; a later 1.x minor is answered as 1.1 (RFC 9110 §6.2);
    /// any other major version gets 505.
    static func decodeVersion(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTPParseError) -> HTTPVersion {
        let start = bytes.startIndex
        guard bytes.count == 8, bytes[start] == UInt8(ascii: "H"), bytes[start + 1] == UInt8(ascii: "T"),
            bytes[start + 2] == UInt8(ascii: "T"), bytes[start + 3] == UInt8(ascii: "P"),
            bytes[start + 4] == UInt8(ascii: "/"), bytes[start + 6] == UInt8(ascii: "."),
            let major = digit(bytes[start + 5]), let minor = digit(bytes[start + 7])
        else {
            throw .badRequest("malformed HTTP version")
        }
        guard major == 1 else { throw .versionNotSupported }
        return HTTPVersion(major: 1, minor: min(minor, 1))
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    /// origin-form for everything, absolute-form (which servers must accept), asterisk-form for
    /// OPTIONS and authority-form for CONNECT only.
    static func validateTargetForm(_ target: String, method: String) throws(HTTPParseError) {
        if target.hasPrefix("/") { return }
        if target == "*" {
            guard method == "OPTIONS" else { throw .badRequest("asterisk-form target outside OPTIONS") }
            return
        }
        let lower = target.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return }
        if method == "CONNECT" { return }
        throw .badRequest("request target is not in origin or absolute form")
    }

    /// Decodes `name: value` (a trailer line).
    static func decodeFieldLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        try line.withUnsafeBufferPointer { line throws(HTTPParseError) in try decodeFieldLine(line) }
    }

    /// Decodes `name: value`, rejecting obs-fold, whitespace before the colon and control bytes.
    static func decodeFieldLine(_ line: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        guard let first = line.first else { throw .badRequest("empty field line") }
        if first == HTTPSyntax.space || first == HTTPSyntax.tab {
            throw .badRequest("obsolete line folding")
        }
        guard let colon = line.firstIndex(of: HTTPSyntax.colon) else {
            throw .badRequest("field line without a colon")
        }
        let nameBytes = line[line.startIndex..<colon]
        guard !nameBytes.isEmpty else { throw .badRequest("empty field name") }
        for byte in nameBytes where !HTTPSyntax.isToken(byte) {
            if byte == HTTPSyntax.space || byte == HTTPSyntax.tab {
                throw .badRequest("whitespace between field name and colon")
            }
            throw .badRequest("invalid byte in field name")
        }
        var valueStart = colon + 1
        var valueEnd = line.endIndex
        while valueStart < valueEnd, line[valueStart] == HTTPSyntax.space || line[valueStart] == HTTPSyntax.tab {
            valueStart += 1
        }
        while valueEnd > valueStart, line[valueEnd - 1] == HTTPSyntax.space || line[valueEnd - 1] == HTTPSyntax.tab {
            valueEnd -= 1
        }
        let valueBytes = line[valueStart..<valueEnd]
        for byte in valueBytes where !HTTPSyntax.isFieldValue(byte) {
            throw .badRequest("control character in field value")
        }
        let name = commonFieldName(UnsafeBufferPointer(rebasing: nameBytes)) ?? String(decoding: nameBytes, as: UTF8.self)
        return (name, String(decoding: valueBytes, as: UTF8.self))
    }

    // MARK: Common tokens

    // Nearly every request spells its method and most of its field names as one of a few
    // literals: comparing a few bytes and returning the literal costs less than validating the
    // bytes as UTF-8 and forming a new string. Only exact spellings match, so the text a handler
    // sees is the text received.

    static func commonMethod(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        switch bytes.count {
        case 3 where equals(bytes, "GET"): return "GET"
        case 4 where equals(bytes, "POST"): return "POST"
        case 4 where equals(bytes, "HEAD"): return "HEAD"
        default: return nil
        }
    }

    static func commonFieldName(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        switch bytes.count {
        case 4 where equals(bytes, "Host"): return "Host"
        case 6 where equals(bytes, "Accept"): return "Accept"
        case 10 where equals(bytes, "User-Agent"): return "User-Agent"
        case 10 where equals(bytes, "Connection"): return "Connection"
        case 12 where equals(bytes, "Content-Type"): return "Content-Type"
        case 13 where equals(bytes, "Authorization"): return "Authorization"
        case 14 where equals(bytes, "Content-Length"): return "Content-Length"
        case 15 where equals(bytes, "Accept-Encoding"): return "Accept-Encoding"
        default: return nil
        }
    }

    /// Whether field line `line` is `field` again: the same name before the colon and the same
    /// value once trimmed. Such a line is valid, since `field` was decoded from one.
    static func lineRepeats(_ line: UnsafeBufferPointer<UInt8>, _ field: HTTPHeaders.Element) -> Bool {
        let nameLength = field.name.utf8.count
        guard line.count > nameLength, line[nameLength] == HTTPSyntax.colon,
            equals(UnsafeBufferPointer(rebasing: line[0..<nameLength]), field.name)
        else { return false }
        var valueStart = nameLength + 1
        var valueEnd = line.count
        while valueStart < valueEnd, line[valueStart] == HTTPSyntax.space || line[valueStart] == HTTPSyntax.tab {
            valueStart += 1
        }
        while valueEnd > valueStart, line[valueEnd - 1] == HTTPSyntax.space || line[valueEnd - 1] == HTTPSyntax.tab {
            valueEnd -= 1
        }
        return equals(UnsafeBufferPointer(rebasing: line[valueStart..<valueEnd]), field.value)
    }

    /// Whether `bytes` are the UTF-8 of `text`. `memcmp` rather than a loop over the bytes:
    /// less than half the instructions for a 15-byte value.
    @inline(__always)
    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ text: String) -> Bool {
        guard bytes.count == text.utf8.count else { return false }
        guard let start = bytes.baseAddress else { return true }
        var text = text
        return text.withUTF8 { expected in memcmp(start, expected.baseAddress!, bytes.count) == 0 }
    }

    @inline(__always)
    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        let expected = literal.utf8Start
        for index in 0..<bytes.count where bytes[index] != expected[index] { return false }
        return true
    }
}
