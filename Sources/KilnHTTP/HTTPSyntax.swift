/// Byte classes of RFC 9110/9112 grammar, as lookup tables so that the parser's inner loops are a
/// load and a compare.
enum HTTPSyntax {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A

    /// `tchar`: the characters of a token (method, field name, coding name).
    static let tokenTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in "!#$%&'*+-.^_`|~".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Bytes allowed inside a field value: HTAB, visible ASCII, space and obs-text; never CR, LF,
    /// NUL or another control character.
    static let fieldValueTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        table[Int(tab)] = true
        for byte in 0x20...0x7E { table[byte] = true }
        for byte in 0x80...0xFF { table[byte] = true }
        return table
    }()

    @inline(__always) static func isToken(_ byte: UInt8) -> Bool { tokenTable[Int(byte)] }
    @inline(__always) static func isFieldValue(_ byte: UInt8) -> Bool { fieldValueTable[Int(byte)] }
    /// Visible ASCII, which is what a request target may hold.
    @inline(__always) static func isTargetByte(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }
    @inline(__always) static func isHexDigit(_ byte: UInt8) -> Bool { hexValue(byte) != nil }

    @inline(__always) static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}

/// Checks the request line byte by byte while it is still arriving, so that binary garbage or a
/// TLS ClientHello on the plain port is refused at once instead of after the header timeout.
struct RequestLineScanner {
    enum Phase { case method, target, version }
    /// Longest method accepted; real methods are short, a long token is garbage.
    static let maxMethodBytes = 32
    static let versionBytes = Set("HTTP/0123456789.".utf8)

    private(set) var phase: Phase = .method
    private var partLength = 0

    /// Feeds one byte of the request line (never CR or LF).
    mutating func consume(_ byte: UInt8, maxTargetBytes: Int) throws(HTTPParseError) {
        switch phase {
        case .method:
            if byte == HTTPSyntax.space {
                guard partLength > 0 else { throw .badRequest("empty method") }
                phase = .target
                partLength = 0
            } else if HTTPSyntax.isToken(byte) {
                partLength += 1
                if partLength > Self.maxMethodBytes { throw .badRequest("method too long") }
            } else {
                throw .badRequest("invalid byte in method")
            }
        case .target:
            if byte == HTTPSyntax.space {
                guard partLength > 0 else { throw .badRequest("empty request target") }
                phase = .version
                partLength = 0
            } else if HTTPSyntax.isTargetByte(byte) {
                partLength += 1
                if partLength > maxTargetBytes { throw .uriTooLong }
            } else {
                throw .badRequest("invalid byte in request target")
            }
        case .version:
            partLength += 1
            guard partLength <= 8, Self.versionBytes.contains(byte) else {
                throw .badRequest("malformed HTTP version")
            }
        }
    }
}
