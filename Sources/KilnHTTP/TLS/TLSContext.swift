import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The server's TLS configuration and certificate, shared by all connections; makes one
/// `TLSSession` per connection.
///
/// Settings (fixed, following Mozilla's "intermediate" server profile, guideline 5.7):
/// - TLS 1.2 and 1.3 only (nothing older);
/// - TLS 1.2 ciphers: `tls12CipherList` (ECDHE/DHE with AES-GCM or ChaCha20-Poly1305, forward
///   secret and AEAD only); TLS 1.3 suites: OpenSSL's defaults, which are Mozilla's;
/// - key exchange groups X25519, P-256, P-384; DHE parameters chosen automatically by key size;
/// - the client's cipher order wins, as Mozilla recommends now that every listed cipher is strong
///   (a phone without AES hardware then picks ChaCha20);
/// - no renegotiation, no TLS compression (CRIME);
/// - no session resumption: no session tickets and no server-side cache, so reloading the
///   certificate never has ticket keys or cached sessions to think about; every connection does a
///   full handshake, which keep-alive makes rare;
/// - released buffers on idle connections (`SSL_MODE_RELEASE_BUFFERS`), so a thousand idle TLS
///   connections do not pin tens of megabytes.
///
/// `reload()` swaps the certificate atomically (SIGHUP). Thread-safe.
public final class TLSContext: @unchecked Sendable {
    /// Mozilla intermediate (5.7) TLS 1.2 cipher list, in its recommended order.
    public static let tls12CipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// TLS 1.3 suites (Mozilla intermediate = OpenSSL's defaults, set explicitly so they cannot drift).
    public static let tls13CipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// Key-exchange groups, most preferred first.
    public static let groups = "X25519:P-256:P-384"

    public let certificatePath: String
    public let keyPath: String

    /// The `SSL_CTX` new sessions are made from; replaced by `reload()`. Sessions hold their own
    /// reference (`SSL_new` counts one), so replacing it never disturbs a live connection.
    private var current: OpaquePointer
    private var currentFingerprint: String
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// Loads the certificate chain and private key (PEM files) and applies the settings above.
    /// - Throws: `TLSError` naming the file and what is wrong with it.
    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        let context = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
        current = context
        currentFingerprint = Self.fingerprint(of: context)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        SSL_CTX_free(current)
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Re-reads the certificate and key files (same paths). On success new sessions use the new
    /// certificate and live sessions carry on with the old one; on any failure nothing changes and
    /// the error says why (the caller logs it and keeps serving).
    public func reload() throws {
        // Build outside the lock: reading files and parsing keys must not stall new connections.
        let context = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
        let fingerprint = Self.fingerprint(of: context)
        pthread_mutex_lock(mutex)
        let old = current
        current = context
        currentFingerprint = fingerprint
        pthread_mutex_unlock(mutex)
        SSL_CTX_free(old)
    }

    /// SHA-256 fingerprint of the certificate new sessions present, as uppercase hex pairs joined
    /// by colons (the format of `openssl x509 -noout -fingerprint -sha256`), for logs.
    public var certificateFingerprintSHA256: String {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return currentFingerprint
    }

    /// A server-side session for one new connection, using the current certificate.
    public func makeSession() -> TLSSession {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return TLSSession(context: current)
    }

    // MARK: - Building an SSL_CTX

    private static func makeContext(certificatePath: String, keyPath: String) throws -> OpaquePointer {
        try checkReadable(certificatePath)
        try checkReadable(keyPath)
        TLSErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.configurationFailed(reason: TLSErrorQueue.drain(fallback: "SSL_CTX_new failed").text)
        }
        do {
            try configure(context)
            try loadCredentials(into: context, certificatePath: certificatePath, keyPath: keyPath)
            return context
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    private static func configure(_ context: OpaquePointer) throws {
        func require(_ ok: Bool, _ what: String) throws {
            if !ok {
                throw TLSError.configurationFailed(reason: "\(what): " + TLSErrorQueue.drain(fallback: "rejected").text)
            }
        }
        try require(kiln_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1, "minimum version TLS 1.2")
        try require(SSL_CTX_set_cipher_list(context, tls12CipherList) == 1, "TLS 1.2 cipher list")
        try require(SSL_CTX_set_ciphersuites(context, tls13CipherSuites) == 1, "TLS 1.3 cipher suites")
        try require(kiln_SSL_CTX_set1_groups_list(context, groups) == 1, "key exchange groups")
        try require(kiln_SSL_CTX_set_dh_auto(context, 1) == 1, "automatic DH parameters")
        _ = kiln_SSL_CTX_set_options(
            context,
            kiln_SSL_OP_NO_RENEGOTIATION() | kiln_SSL_OP_NO_COMPRESSION()
                | kiln_SSL_OP_NO_TICKET())
        try require(SSL_CTX_set_num_tickets(context, 0) == 1, "no TLS 1.3 session tickets")
        _ = kiln_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        _ = kiln_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
        // An encrypted key would make OpenSSL prompt on the terminal and hang the server: answer
        // every passphrase request with "none", so such a key fails to load with a clear error.
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
    }

    private static func loadCredentials(
        into context: OpaquePointer, certificatePath: String,
        keyPath: String
    ) throws {
        TLSErrorQueue.clear()
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw TLSError.invalidCertificate(
                path: certificatePath, reason: TLSErrorQueue.drain(fallback: "no certificate found").text)
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
            let reason = TLSErrorQueue.drain(fallback: "no private key found").text
            // A valid key of the certificate's type but another pair is refused right here, with
            // OpenSSL's "key values mismatch"; report it like the later pairing check does.
            if reason.contains("key values mismatch") {
                throw TLSError.keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)
            }
            throw TLSError.invalidPrivateKey(path: keyPath, reason: reason)
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            TLSErrorQueue.clear()
            throw TLSError.keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)
        }
    }

    private static func checkReadable(_ path: String) throws {
        guard access(path, R_OK) == 0 else {
            throw TLSError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
    }

    private static func fingerprint(of context: OpaquePointer) -> String {
        guard let certificate = SSL_CTX_get0_certificate(context) else { return "" }
        return TLSSession.sha256Fingerprint(of: certificate)
    }
}
