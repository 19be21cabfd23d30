/// A layer between the socket and the HTTP parser that transforms bytes both ways: TLS.
///
/// The connection drives it on its own queue only: ciphertext read from the socket goes into
/// ``receive(_:)``, which returns the plaintext it yields; plaintext to send goes into
/// ``send(_:)``; whatever ciphertext is ready (handshake records included) is taken with
/// ``takeOutput()`` and written to the socket.
public protocol ConnectionSecurityLayer: AnyObject {
    /// Consumes received ciphertext and returns the plaintext now available (possibly empty).
    func receive(_ ciphertext: UnsafeRawBufferPointer) throws -> [UInt8]
    /// Encrypts plaintext; the records become available through ``takeOutput()``.
    func send(_ plaintext: [UInt8]) throws
    /// Ciphertext that should be written to the socket now.
    func takeOutput() -> [UInt8]
    /// Whether the handshake has finished.
    var isHandshakeComplete: Bool { get }
    /// Whether the peer announced the end of its data (TLS close_notify).
    var peerClosed: Bool { get }
    /// Queues a close_notify alert.
    func close()
}

/// OpenSSL sessions are the security layer of TLS connections.
extension TLSSession: ConnectionSecurityLayer {}

extension TLSContext {
    /// A factory for ``HTTPServerConfiguration/securityLayerFactory`` that makes a session per
    /// connection from this context (a reloaded certificate applies to new connections).
    public var securityLayerFactory: @Sendable () throws -> ConnectionSecurityLayer {
        { [self] in makeSession() }
    }
}
