/// The id that ties a request to its response, its log lines and its error body: the client's
/// `X-Request-ID` when it is well-formed, otherwise one the server makes.
///
/// Well-formed: 1 to `maxBytes` bytes (``HTTPServerConfiguration/maxRequestIDBytes``) of
/// `A-Z a-z 0-9 . _ : -`. That covers UUIDs, hex and base64url ids and prefixed ones
/// (`req_…`, `trace:…`), and keeps anything that could forge a log field or a header (spaces,
/// quotes, `=`, control bytes) out of the log and the response. A malformed id is replaced, not
/// refused: the request itself is fine.
///
/// A made id stays as its 15 bytes in two integers until someone asks for its ``text``: the
/// response head is written from the bytes, so a request that nobody logs (`/health` with the
/// access log off) makes no string.
public struct RequestID: Sendable, Equatable, CustomStringConvertible {
    /// The request and response header.
    public static let headerName = "X-Request-ID"

    /// The client's id, when it sent a well-formed one.
    private var sent: String?
    /// A made id's 15 ASCII bytes, little-endian: bytes 0–7 in `low`, 8–14 in `high`.
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    /// An id given as text (a client's, already checked).
    public init(_ text: String) {
        sent = text
    }

    init(generatedLow low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// The id as sent in `X-Request-ID`.
    public var text: String {
        if let sent { return sent }
        return withUnsafeBytes(of: (low, high)) { bytes in
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<RequestIDGenerator.length]), as: UTF8.self)
        }
    }

    public var description: String { text }

    /// Writes the id into a response head.
    func write(to writer: inout HTTPResponseHeadEncoder.Writer) {
        if let sent {
            writer.write(sent)
            return
        }
        withUnsafeBytes(of: (low, high)) { bytes in
            writer.write(UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[0..<RequestIDGenerator.length]))
        }
    }

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
    static func resolve(_ headers: HTTPHeaders, maxBytes: Int, generator: inout RequestIDGenerator) -> RequestID {
        if let sent = headers[headerName], isWellFormed(sent, maxBytes: maxBytes) { return RequestID(sent) }
        return generator.next()
    }
}

/// Makes request ids: 15 characters of `A-Z a-z 0-9 _ -`, 90 random bits.
///
/// Fifteen bytes fit in two integers (and in an inline Swift string when one is made); 90 bits
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

    /// 8 characters from the first 48 bits, 7 from the next 42.
    mutating func next() -> RequestID {
        let alphabet = Self.alphabet.utf8Start
        func characters(_ count: Int, from bits: UInt64) -> UInt64 {
            var bits = bits, packed: UInt64 = 0
            for index in 0..<count {
                packed |= UInt64(alphabet[Int(bits & 63)]) << (8 * UInt64(index))
                bits >>= 6
            }
            return packed
        }
        return RequestID(generatedLow: characters(8, from: nextBits()), high: characters(7, from: nextBits()))
    }
}
