/// Why a TLS operation failed. Every case carries enough to act on without reading OpenSSL's
/// source: which file, and OpenSSL's own reason text.
public enum TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A certificate or key file is missing or unreadable (permissions).
    case unreadableFile(path: String, reason: String)
    /// The certificate file holds no usable PEM certificate (chain).
    case invalidCertificate(path: String, reason: String)
    /// The key file holds no usable PEM private key (or one protected by a passphrase, which the
    /// server cannot type in).
    case invalidPrivateKey(path: String, reason: String)
    /// The private key does not belong to the certificate.
    case keyDoesNotMatchCertificate(certificatePath: String, keyPath: String)
    /// OpenSSL rejected the fixed protocol settings (an OpenSSL build without these ciphers).
    case configurationFailed(reason: String)
    /// A plain-text HTTP request arrived on the TLS port. The connection must be closed.
    case plaintextHTTPRequest
    /// The handshake failed: unsupported protocol version, no shared cipher, garbage instead of a
    /// ClientHello, a fatal alert from the client, … The connection must be closed.
    case handshakeFailed(reason: String)
    /// A record-layer error after the handshake (bad MAC, unexpected message, renegotiation
    /// attempt rejected fatally, …). The connection must be closed.
    case connectionFailed(reason: String)
    /// `send` was called before the handshake completed.
    case handshakeNotComplete
    /// `send` was called after `close`.
    case sessionClosed

    /// True for errors that end a connection (the session is spent), false for misuse of the API.
    public var isFatalToConnection: Bool {
        switch self {
        case .plaintextHTTPRequest, .handshakeFailed, .connectionFailed: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "TLS: cannot read \(path): \(reason)"
        case .invalidCertificate(let path, let reason):
            return "TLS: \(path) does not contain a valid PEM certificate: \(reason)"
        case .invalidPrivateKey(let path, let reason):
            return "TLS: \(path) does not contain a valid unencrypted PEM private key: \(reason)"
        case .keyDoesNotMatchCertificate(let certificatePath, let keyPath):
            return "TLS: the private key in \(keyPath) does not match the certificate in \(certificatePath)"
        case .configurationFailed(let reason):
            return "TLS: OpenSSL rejected the TLS settings: \(reason)"
        case .plaintextHTTPRequest:
            return "TLS: the client sent a plain HTTP request to the TLS port"
        case .handshakeFailed(let reason):
            return "TLS: handshake failed: \(reason)"
        case .connectionFailed(let reason):
            return "TLS: connection failed: \(reason)"
        case .handshakeNotComplete:
            return "TLS: cannot send application data before the handshake completes"
        case .sessionClosed:
            return "TLS: cannot send after close()"
        }
    }
}
