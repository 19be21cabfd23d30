/// Which browser origins may call the API (CORS). Off by default: no CORS headers at all.
///
/// Only origins on the allow-list are answered; an arbitrary `Origin` is never reflected. The
/// entry `*` allows any origin, answered with the literal `*` (so credentials cannot ride along).
public struct CORSPolicy: Sendable, Equatable {
    public var allowedOrigins: Set<String>
    /// Request headers a preflight may ask for.
    public var allowedHeaders: [String]
    /// How long browsers may cache a preflight answer.
    public var maxAgeSeconds: Int

    public init(
        allowedOrigins: [String], allowedHeaders: [String] = ["Authorization", "Content-Type"],
        maxAgeSeconds: Int = 600
    ) {
        self.allowedOrigins = Set(allowedOrigins.map { Self.normalized($0) })
        self.allowedHeaders = allowedHeaders
        self.maxAgeSeconds = maxAgeSeconds
    }

    public static let disabled = CORSPolicy(allowedOrigins: [])

    public var isEnabled: Bool { !allowedOrigins.isEmpty }

    public func allows(origin: String) -> Bool {
        allowedOrigins.contains("*") || allowedOrigins.contains(Self.normalized(origin))
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    public func allowOriginValue(for origin: String) -> String {
        allowedOrigins.contains("*") ? "*" : origin
    }

    /// Origins compare as scheme://host[:port], case-insensitively, without a trailing slash.
    static func normalized(_ origin: String) -> String {
        var text = origin.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
