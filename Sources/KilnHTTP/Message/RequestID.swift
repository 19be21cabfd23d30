/// The id that ties a request to its response, its log lines and its error body: the client's
/// `X-Request-ID` when it is well-formed, otherwise one the server makes.
///
/// Well-formed: 1 to `maxBytes` bytes (``HTTPServerConfiguration/maxRequestIDBytes``) of
/// `A-Z a-z 0-9 . _ : -`. That covers UUIDs, hex and base64url ids and prefixed ones
/// (`req_…`, `trace:…`), and keeps anything that could forge a log field or a header (spaces,
/// quotes, `=`, control bytes) out of the log and the response. A malformed id is replaced, not
/// refused: the request itself is fine.
public enum RequestID {
    /// The request and response header.
    public static let headerName = "X-Request-ID"

    /// Whether `value` may be used as the id as sent.
    public static func isWellFormed(_ value: String, maxBytes: Int) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes.count <= maxBytes else { return false }
            for byte in bytes where !isAllowed(byte) { return false }
            return true
        }
    }

    @inline(__always)
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
            UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// The id of a request with these headers: the first `X-Request-ID` if well-formed, else a
    /// new one from `generator`.
    static func resolve(_ headers: HTTPHeaders, maxBytes: Int, generator: inout RequestIDGenerator) -> String {
        if let sent = headers[headerName], isWellFormed(sent, maxBytes: maxBytes) { return sent }
        return generator.next()
    }
}

/// Makes request ids: 15 characters of `A-Z a-z 0-9 _ -`, 90 random bits.
///
/// Fifteen UTF-8 bytes is what a Swift string holds inline, so an id costs no allocation; 90 bits
/// make a collision among 10^12 ids about one chance in a million, across replicas too. The bits
/// come from wyrand (a 64-bit multiply-xorshift generator) seeded once from the system's
/// generator: one `getrandom` per event loop instead of one per request. One generator per event
/// loop, used only on it, so no lock.
struct RequestIDGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    init(seed: UInt64) {
        state = seed
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    static let length = 15

    @inline(__always)
    private mutating func nextBits() -> UInt64 {
        state &+= 0xa076_1d64_78bd_642f
        let product = (state ^ 0xe703_7ed1_a0b4_28db).multipliedFullWidth(by: state)
        return product.high ^ product.low
    }

    mutating func next() -> String {
        // 10 characters from the first 60 bits, 5 from the next 30.
        var bits = nextBits()
        let more = nextBits()
        return String(unsafeUninitializedCapacity: Self.length) { buffer in
            Self.alphabet.withUTF8Buffer { alphabet in
                for index in 0..<Self.length {
                    if index == 10 { bits = more }
                    buffer[index] = alphabet[Int(bits & 63)]
                    bits >>= 6
                }
            }
            return Self.length
        }
    }
}
