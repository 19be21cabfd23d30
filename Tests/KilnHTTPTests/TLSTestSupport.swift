import COpenSSL
import Foundation
import KilnHTTP

/// Throwaway certificates made by the `openssl` command-line tool in a unique temporary directory.
/// Call `remove()` when done (tests run in parallel; each gets its own directory).
struct TLSTestCertificates {
    enum KeyType {
        case ecdsaP256
        case rsa2048
    }

    struct Pair {
        let certificatePath: String
        let keyPath: String
    }

    let directory: CodecTestDirectory

    init() throws {
        directory = try CodecTestDirectory()
    }

    func remove() {
        directory.remove()
    }

    /// A self-signed certificate for `localhost` / 127.0.0.1, valid for one day.
    func make(_ name: String, keyType: KeyType = .ecdsaP256, commonName: String = "localhost") throws -> Pair {
        let certificate = directory.url.appendingPathComponent("\(name)-cert.pem").path
        let key = directory.url.appendingPathComponent("\(name)-key.pem").path
        let keyArguments: [String]
        switch keyType {
        case .ecdsaP256: keyArguments = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        case .rsa2048: keyArguments = ["-newkey", "rsa:2048"]
        }
        let result = try CodecTestProcess.run(
            "openssl",
            ["req", "-x509"] + keyArguments + [
                "-nodes", "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=\(commonName)",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
        guard result.status == 0 else { throw TLSTestFailure("openssl req failed: \(result.stderr)") }
        return Pair(certificatePath: certificate, keyPath: key)
    }

    /// The key of `pair`, re-written encrypted with a passphrase.
    func encryptedCopy(of pair: Pair) throws -> String {
        let path = directory.url.appendingPathComponent("encrypted-key.pem").path
        let result = try CodecTestProcess.run(
            "openssl",
            [
                "pkey", "-in", pair.keyPath, "-out", path, "-aes256", "-passout", "pass:secret",
            ])
        guard result.status == 0 else { throw TLSTestFailure("openssl pkey failed: \(result.stderr)") }
        return path
    }

    /// The SHA-256 fingerprint as the openssl tool prints it (independent of our code).
    static func fingerprint(ofCertificateAt path: String) throws -> String {
        let result = try CodecTestProcess.run("openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha256"])
        let line = String(decoding: result.stdout, as: UTF8.self)
        guard result.status == 0, let equals = line.firstIndex(of: "=") else {
            throw TLSTestFailure("openssl x509 failed: \(result.stderr)")
        }
        return line[line.index(after: equals)...].trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    }
}

struct TLSTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TLS *client* over memory BIOs, written directly against OpenSSL for the tests, so that the
/// server-side `TLSSession` can be handshaken with in memory under chosen client settings.
final class TLSTestClient {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private(set) var isHandshakeComplete = false
    private(set) var peerClosed = false

    /// - Parameters:
    ///   - minVersion/maxVersion: protocol bounds (`TLS1_1_VERSION` … `TLS1_3_VERSION`).
    ///   - cipherList: TLS 1.2-and-older ciphers to offer; `@SECLEVEL=0` lets OpenSSL 3 speak TLS 1.1.
    ///   - trustedCertificatePath: if set, the server's certificate must verify against it.
    init(
        minVersion: Int32 = TLS1_2_VERSION, maxVersion: Int32 = TLS1_3_VERSION,
        cipherList: String? = nil, trustedCertificatePath: String? = nil
    ) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSTestFailure("SSL_CTX_new") }
        self.context = context
        _ = kiln_SSL_CTX_set_min_proto_version(context, minVersion)
        _ = kiln_SSL_CTX_set_max_proto_version(context, maxVersion)
        if let cipherList, SSL_CTX_set_cipher_list(context, cipherList) != 1 {
            SSL_CTX_free(context)
            throw TLSTestFailure("bad client cipher list \(cipherList)")
        }
        if let trustedCertificatePath {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            _ = SSL_CTX_load_verify_locations(context, trustedCertificatePath, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        guard let ssl = SSL_new(context), let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_CTX_free(context)
            throw TLSTestFailure("SSL_new")
        }
        _ = kiln_BIO_set_mem_eof_return(input, -1)
        SSL_set_bio(ssl, input, output)
        SSL_set_connect_state(ssl)
        _ = kiln_SSL_set_tlsext_host_name(ssl, "localhost")
        self.ssl = ssl
        _ = SSL_do_handshake(ssl)  // queues the ClientHello
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    var negotiatedProtocol: String? { isHandshakeComplete ? String(cString: SSL_get_version(ssl)) : nil }

    var negotiatedCipher: String? {
        guard isHandshakeComplete, let cipher = SSL_get_current_cipher(ssl) else { return nil }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    /// SHA-256 fingerprint of the certificate the server presented.
    var peerCertificateFingerprint: String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else { return nil }
        return digest.prefix(Int(length)).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    func receive(_ bytes: [UInt8]) throws -> [UInt8] {
        _ = bytes.withUnsafeBytes { BIO_write(SSL_get_rbio(ssl), $0.baseAddress, Int32($0.count)) }
        if !isHandshakeComplete {
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            if result != 1 {
                let code = SSL_get_error(ssl, result)
                if code == SSL_ERROR_WANT_READ { return [] }
                throw TLSTestFailure("client handshake failed: \(Self.drainErrors())")
            }
            isHandshakeComplete = true
        }
        var plaintext: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            ERR_clear_error()
            let count = SSL_read(ssl, &buffer, Int32(buffer.count))
            if count > 0 {
                plaintext += buffer[0..<Int(count)]
                continue
            }
            switch SSL_get_error(ssl, count) {
            case SSL_ERROR_WANT_READ: return plaintext
            case SSL_ERROR_ZERO_RETURN:
                peerClosed = true
                return plaintext
            default: throw TLSTestFailure("client read failed: \(Self.drainErrors())")
            }
        }
    }

    func send(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { throw TLSTestFailure("client write failed") }
    }

    func close() { _ = SSL_shutdown(ssl) }

    /// Starts a TLS 1.2 renegotiation (which the server must refuse).
    func requestRenegotiation() -> Bool {
        SSL_renegotiate(ssl) == 1 && SSL_do_handshake(ssl) <= 0
    }

    func takeOutput() -> [UInt8] {
        let output = SSL_get_wbio(ssl)
        let pending = Int(kiln_BIO_pending(output))
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let count = BIO_read(output, &bytes, Int32(pending))
        return Array(bytes.prefix(Int(max(0, count))))
    }

    private static func drainErrors() -> String {
        var lines: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            lines.append(String(cString: buffer))
        }
        return lines.joined(separator: "; ")
    }
}

/// Moves records between a server session and a test client until neither has anything to send.
enum TLSTestPump {
    struct Delivered {
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
    }

    /// Errors thrown by either side propagate; a `TLSError` means the server side failed.
    @discardableResult
    static func run(server: TLSSession, client: TLSTestClient) throws -> Delivered {
        var delivered = Delivered()
        for _ in 0..<64 {
            let clientOutput = client.takeOutput()
            if !clientOutput.isEmpty { delivered.toServer += try server.receive(clientOutput) }
            let serverOutput = server.takeOutput()
            if !serverOutput.isEmpty { delivered.toClient += try client.receive(serverOutput) }
            if clientOutput.isEmpty && serverOutput.isEmpty { return delivered }
        }
        throw TLSTestFailure("records still flowing after 64 rounds")
    }
}
