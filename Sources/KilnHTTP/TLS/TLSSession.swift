import COpenSSL

/// The server side of one TLS connection, as a pure transformation between the bytes on the
/// socket (ciphertext) and the bytes of HTTP (plaintext). It never touches the socket: OpenSSL
/// reads from and writes to memory BIOs, and the connection moves bytes in and out.
///
/// Driving it, on the connection's serial queue (a session is not thread-safe):
/// 1. Bytes read from the socket → `receive(_:)`. It advances the handshake and returns the
///    plaintext that became available (often empty).
/// 2. After *every* `receive`, `send` and `close`, write `takeOutput()` to the socket: handshake
///    records, alerts, application data and TLS 1.3 post-handshake replies all come out there.
/// 3. Plaintext to send → `send(_:)` (only once `isHandshakeComplete`), then `takeOutput()`.
///
/// "Need more input" versus "failed": `receive` returning normally while `isHandshakeComplete` is
/// false means the handshake is waiting for the client — arm the handshake timeout and read
/// again. `receive` throwing means the session is dead (`TLSError.plaintextHTTPRequest`,
/// `.handshakeFailed`, `.connectionFailed`): write `takeOutput()` once more (it may hold an alert
/// telling the client why), then close the socket. Every later call rethrows the same error.
///
/// `peerClosed` turns true when the client's close_notify arrives; the server may still send
/// (TLS allows half-close), then should `close()` and flush. Feed the socket's reads in their
/// natural sizes (up to ~64 KiB): input is consumed completely on every call.
public final class TLSSession {
    private let ssl: OpaquePointer
    private let inputBIO: OpaquePointer
    private var failure: TLSError?
    private var closeQueued = false

    /// True once the handshake has finished; from then on `send` is allowed.
    public private(set) var isHandshakeComplete = false
    /// True once the client's close_notify alert has been received.
    public private(set) var peerClosed = false

    /// Plaintext is decrypted in pieces of this size (the largest TLS record).
    private static let recordSize = 16 * 1024
    /// An output BIO that grew beyond this (a large response) is replaced once drained, so an idle
    /// keep-alive connection does not keep the peak buffer.
    private static let outputBufferKeepLimit = 64 * 1024

    init(context: OpaquePointer) {
        // SSL_new takes its own reference on the context; allocation failures are out-of-memory.
        guard let ssl = SSL_new(context),
            let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem())
        else {
            fatalError("OpenSSL could not allocate a TLS session (out of memory)")
        }
        // An empty input BIO must read as "retry later", not as end of file.
        _ = kiln_BIO_set_mem_eof_return(input, -1)
        SSL_set_bio(ssl, input, output)  // the SSL now owns both BIOs
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.inputBIO = input
    }

    deinit {
        SSL_free(ssl)
    }

    /// The protocol agreed on ("TLSv1.3", "TLSv1.2"), nil before the handshake completes.
    public var negotiatedProtocol: String? {
        isHandshakeComplete ? String(cString: SSL_get_version(ssl)) : nil
    }

    /// The cipher agreed on (OpenSSL's name, e.g. "TLS_AES_128_GCM_SHA256"), nil before the handshake.
    public var negotiatedCipher: String? {
        guard isHandshakeComplete, let cipher = SSL_get_current_cipher(ssl) else { return nil }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    /// True when `takeOutput()` has bytes to write.
    public var hasPendingOutput: Bool {
        kiln_BIO_pending(SSL_get_wbio(ssl)) > 0
    }

    /// Feeds ciphertext read from the socket; advances the handshake and returns any plaintext now
    /// available (possibly empty). Always follow with `takeOutput()`.
    /// - Throws: `TLSError.plaintextHTTPRequest`, `.handshakeFailed` or `.connectionFailed`; the
    ///   session is then dead.
    public func receive(_ ciphertext: UnsafeRawBufferPointer) throws -> [UInt8] {
        if let failure { throw failure }
        var remaining = ciphertext
        while !remaining.isEmpty {
            // A memory BIO accepts everything; the loop only splits what an Int32 cannot count.
            let piece = min(remaining.count, Int(Int32.max))
            let written = BIO_write(inputBIO, remaining.baseAddress, Int32(piece))
            guard written == Int32(piece) else {
                throw fail(.connectionFailed(reason: "could not buffer \(piece) received bytes"))
            }
            remaining = UnsafeRawBufferPointer(rebasing: remaining[piece...])
        }
        if !isHandshakeComplete {
            TLSErrorQueue.clear()
            let result = SSL_do_handshake(ssl)
            if result == 1 {
                isHandshakeComplete = true
            } else {
                switch SSL_get_error(ssl, result) {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    return []
                case SSL_ERROR_ZERO_RETURN:
                    peerClosed = true
                    return []
                default:
                    throw fail(Self.handshakeError())
                }
            }
        }
        return try readPlaintext()
    }

    /// Convenience for `receive(_:)` with an array.
    public func receive(_ ciphertext: [UInt8]) throws -> [UInt8] {
        try ciphertext.withUnsafeBytes { try receive($0) }
    }

    /// Encrypts `plaintext` into TLS records; fetch them with `takeOutput()`.
    /// - Throws: `TLSError.handshakeNotComplete` before the handshake, `.sessionClosed` after
    ///   `close()`, the session's failure if it failed, or `.connectionFailed`.
    public func send(_ plaintext: [UInt8]) throws {
        try plaintext.withUnsafeBytes { try send($0) }
    }

    /// Encrypts plaintext from raw memory; see `send(_:)`.
    public func send(_ plaintext: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        guard isHandshakeComplete else { throw TLSError.handshakeNotComplete }
        guard !closeQueued else { throw TLSError.sessionClosed }
        var remaining = plaintext
        while !remaining.isEmpty {
            let piece = min(remaining.count, 1 << 20)
            TLSErrorQueue.clear()
            let written = SSL_write(ssl, remaining.baseAddress, Int32(piece))
            guard written > 0 else {
                let reason = TLSErrorQueue.drain(fallback: "SSL_write error \(SSL_get_error(ssl, written))").text
                throw fail(.connectionFailed(reason: reason))
            }
            remaining = UnsafeRawBufferPointer(rebasing: remaining[Int(written)...])
        }
    }

    /// Returns (and removes) the ciphertext waiting to be written to the socket; empty if none.
    public func takeOutput() -> [UInt8] {
        guard let output = SSL_get_wbio(ssl) else { return [] }
        let pending = Int(kiln_BIO_pending(output))
        guard pending > 0 else { return [] }
        let bytes = [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            count = max(0, Int(BIO_read(output, buffer.baseAddress, Int32(pending))))
        }
        if pending > Self.outputBufferKeepLimit, let fresh = BIO_new(BIO_s_mem()) {
            SSL_set0_wbio(ssl, fresh)  // frees the grown buffer
        }
        return bytes
    }

    /// Queues a close_notify alert (fetch it with `takeOutput()`); later `send` calls throw.
    /// Does not wait for the client's close_notify. Idempotent.
    public func close() {
        guard !closeQueued else { return }
        closeQueued = true
        guard isHandshakeComplete, failure == nil else { return }
        TLSErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        TLSErrorQueue.clear()
    }

    // MARK: - Internals

    /// Decrypts everything the input BIO holds, record by record.
    private func readPlaintext() throws -> [UInt8] {
        var plaintext: [UInt8] = []
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.recordSize) { buffer in
            while true {
                TLSErrorQueue.clear()
                let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                if count > 0 {
                    plaintext.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<Int(count)]))
                    continue
                }
                switch SSL_get_error(ssl, count) {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    return
                case SSL_ERROR_ZERO_RETURN:
                    peerClosed = true
                    return
                default:
                    let reason = TLSErrorQueue.drain(fallback: "SSL_read failed").text
                    throw fail(.connectionFailed(reason: reason))
                }
            }
        }
        return plaintext
    }

    /// Classifies a failed handshake from OpenSSL's error queue.
    private static func handshakeError() -> TLSError {
        let (text, reasons) = TLSErrorQueue.drain(fallback: "the client closed the connection or sent invalid data")
        if reasons.contains(SSL_R_HTTP_REQUEST) || reasons.contains(SSL_R_HTTPS_PROXY_REQUEST) {
            return .plaintextHTTPRequest
        }
        return .handshakeFailed(reason: text)
    }

    /// Records `error` as the session's end and returns it for throwing.
    private func fail(_ error: TLSError) -> TLSError {
        failure = error
        return error
    }

    /// SHA-256 of a certificate's DER encoding as colon-separated uppercase hex.
    static func sha256Fingerprint(of certificate: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else { return "" }
        let hex = "0123456789ABCDEF".map { $0 }
        return digest.prefix(Int(length))
            .map { String([hex[Int($0 >> 4)], hex[Int($0 & 0x0f)]]) }
            .joined(separator: ":")
    }
}
