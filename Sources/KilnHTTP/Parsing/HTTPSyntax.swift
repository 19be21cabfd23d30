/// Byte classes of RFC 9110/9112 grammar, as lookup tables so that the parser's inner loops are a
/// load and a compare.
enum HTTPSyntax {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A

    /// `tchar` (the characters of a token: method, field name, coding name) as a bit set over
    /// ASCII, low and high 64 codes. Constants rather than a table: no lazy global to check.
    static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always) static func isToken(_ byte: UInt8) -> Bool {
        inMask(byte, low: tokenMaskLow, high: tokenMaskHigh)
    }

    /// Bytes allowed inside a field value: HTAB, visible ASCII, space and obs-text; never CR, LF,
    /// NUL or another control character.
    @inline(__always) static func isFieldValue(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    /// Visible ASCII, which is what a request target may hold.
    @inline(__always) static func isTargetByte(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }

    /// Whether ASCII `byte` is in the set given as two 64-bit masks; false for non-ASCII.
    @inline(__always) static func inMask(_ byte: UInt8, low: UInt64, high: UInt64) -> Bool {
        if byte < 64 { return low & (1 << UInt64(byte)) != 0 }
        if byte < 128 { return high & (1 << UInt64(byte - 64)) != 0 }
        return false
    }

    /// ASCII lowercase of `byte` (other bytes unchanged).
    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

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

    private(set) var phase: Phase = .method
    private var partLength = 0

    /// Feeds the request line's bytes from `start` up to the first CR or LF (or `end`); returns
    /// the index where it stopped.
    mutating func consume(
        _ bytes: UnsafeBufferPointer<UInt8>, from start: Int, upTo end: Int,
        maxTargetBytes: Int
    ) throws(HTTPParseError) -> Int {
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == HTTPSyntax.cr || byte == HTTPSyntax.lf { break }
            try consume(byte, maxTargetBytes: maxTargetBytes)
            index += 1
        }
        return index
    }

    /// Feeds one byte of the request line (never CR or LF).
    @inline(__always)
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
            // The characters of `HTTP/1.1`: H T P / digits and the dot.
            let isVersionByte =
                byte == UInt8(ascii: "H") || byte == UInt8(ascii: "T") || byte == UInt8(ascii: "P")
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            guard partLength <= 8, isVersionByte else {
                throw .badRequest("malformed HTTP version")
            }
        }
    }
}
