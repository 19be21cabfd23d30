/// Checks `Authorization: Bearer <key>` against the configured API keys in constant time.
///
/// Every key is compared, each over the full length of the longer string, so the time taken
/// reveals neither which key nor how many leading bytes matched.
public struct APIKeyAuthenticator: Sendable {
    private let keys: [[UInt8]]

    /// `keys` empty means no authentication (every request is authorized).
    public init(keys: [String]) {
        self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    public var isEnabled: Bool { !keys.isEmpty }

    /// Whether an `Authorization` header value carries one of the keys.
    public func authorizes(_ authorization: String?) -> Bool {
        guard isEnabled else { return true }
        guard let authorization else { return false }
        let bytes = Array(authorization.utf8)
        let prefix = Array("bearer ".utf8)
        guard bytes.count > prefix.count,
            zip(bytes, prefix).allSatisfy({ ($0 | 0x20) == $1 || ($0 == 0x20 && $1 == 0x20) })
        else {
            return false
        }
        var token = bytes[prefix.count...]
        while token.first == 0x20 { token = token.dropFirst() }
        var matched: UInt8 = 0
        for key in keys { matched |= Self.constantTimeEquals(Array(token), key) }
        return matched == 1
    }

    /// 1 when equal, 0 otherwise; the loop always runs over the longer length.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> UInt8 {
        var difference = UInt64(a.count ^ b.count)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0 ? 1 : 0
    }
}
