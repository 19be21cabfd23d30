import Foundation
import KilnHTTP
import Testing

/// Loading certificates, refusing broken ones with clear errors, and reloading (SIGHUP).
@Suite struct TLSContextReloadTests {
    /// The fingerprint of the certificate a new session presents, seen from a real client.
    func presentedFingerprint(_ context: TLSContext) throws -> String? {
        let server = context.makeSession()
        let client = try TLSTestClient()
        try TLSTestPump.run(server: server, client: client)
        return client.peerCertificateFingerprint
    }

    func replace(_ path: String, with source: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test func brokenFilesAreRejectedWithClearErrors() throws {
        let certificates = try TLSTestCertificates()
        defer { certificates.remove() }
        let good = try certificates.make("good")
        let other = try certificates.make("other")
        let rsa = try certificates.make("rsa", keyType: .rsa2048)
        let garbage = try certificates.directory.write(Array("not a pem file\n".utf8), to: "garbage.pem").path
        let empty = try certificates.directory.write([], to: "empty.pem").path
        let missing = certificates.directory.url.appendingPathComponent("missing.pem").path
        let encryptedKey = try certificates.encryptedCopy(of: good)

        func loadError(_ certificate: String, _ key: String) -> TLSError? {
            do {
                _ = try TLSContext(certificatePath: certificate, keyPath: key)
                return nil
            } catch {
                return error as? TLSError
            }
        }
        #expect(loadError(good.certificatePath, good.keyPath) == nil)

        guard case .unreadableFile(let path, let reason) = loadError(missing, good.keyPath) else {
            Issue.record("missing certificate")
            return
        }
        #expect(path == missing)
        #expect(reason.contains("No such file"))
        #expect(TLSError.unreadableFile(path: path, reason: reason).description.contains(missing))

        if case .invalidCertificate(let path, _) = loadError(garbage, good.keyPath) {
            #expect(path == garbage)
        } else {
            Issue.record("garbage certificate")
        }
        if case .invalidCertificate = loadError(empty, good.keyPath) {} else { Issue.record("empty certificate") }
        // A key file where the certificate should be is not a certificate.
        if case .invalidCertificate = loadError(good.keyPath, good.keyPath) {} else { Issue.record("key as certificate") }

        if case .invalidPrivateKey(let path, _) = loadError(good.certificatePath, garbage) {
            #expect(path == garbage)
        } else {
            Issue.record("garbage key")
        }
        // An encrypted key fails at once: the server must never sit waiting for a passphrase.
        if case .invalidPrivateKey = loadError(good.certificatePath, encryptedKey) {
        } else {
            Issue.record("encrypted key: \(String(describing: loadError(good.certificatePath, encryptedKey)))")
        }

        // Keys of another pair, of the same type and of another type.
        #expect(
            loadError(good.certificatePath, other.keyPath)
                == .keyDoesNotMatchCertificate(certificatePath: good.certificatePath, keyPath: other.keyPath))
        #expect(
            loadError(good.certificatePath, rsa.keyPath)
                == .keyDoesNotMatchCertificate(certificatePath: good.certificatePath, keyPath: rsa.keyPath))
    }

    @Test func reloadSwapsCertificateOnlyWhenTheNewOneIsGood() throws {
        let certificates = try TLSTestCertificates()
        defer { certificates.remove() }
        let first = try certificates.make("first")
        let second = try certificates.make("second", keyType: .rsa2048, commonName: "second.localhost")
        let firstFingerprint = try TLSTestCertificates.fingerprint(ofCertificateAt: first.certificatePath)
        let secondFingerprint = try TLSTestCertificates.fingerprint(ofCertificateAt: second.certificatePath)
        #expect(firstFingerprint != secondFingerprint)

        // The live files the server was started with; the admin overwrites them in place.
        let live = certificates.directory.url
        let certificatePath = live.appendingPathComponent("live-cert.pem").path
        let keyPath = live.appendingPathComponent("live-key.pem").path
        try replace(certificatePath, with: first.certificatePath)
        try replace(keyPath, with: first.keyPath)
        let context = try TLSContext(certificatePath: certificatePath, keyPath: keyPath)
        #expect(context.certificateFingerprintSHA256 == firstFingerprint)
        #expect(try presentedFingerprint(context) == firstFingerprint)

        // A connection established before any reload.
        let liveServer = context.makeSession()
        let liveClient = try TLSTestClient()
        try TLSTestPump.run(server: liveServer, client: liveClient)
        // A session accepted before the reload but whose handshake is still to come.
        let pendingServer = context.makeSession()

        // Broken reloads: each throws, and the first certificate stays in service.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: certificatePath))
        #expect(throws: TLSError.self) { try context.reload() }
        try replace(certificatePath, with: second.certificatePath)  // new cert, old key: mismatch
        #expect(throws: TLSError.keyDoesNotMatchCertificate(certificatePath: certificatePath, keyPath: keyPath)) {
            try context.reload()
        }
        try FileManager.default.removeItem(atPath: keyPath)
        #expect(throws: TLSError.self) { try context.reload() }
        #expect(context.certificateFingerprintSHA256 == firstFingerprint)
        #expect(try presentedFingerprint(context) == firstFingerprint)

        // The good reload: new sessions present the second certificate.
        try replace(keyPath, with: second.keyPath)
        try context.reload()
        #expect(context.certificateFingerprintSHA256 == secondFingerprint)
        #expect(try presentedFingerprint(context) == secondFingerprint)

        // The old connection keeps working, in both directions.
        try liveClient.send(Array("still there?".utf8))
        #expect(try TLSTestPump.run(server: liveServer, client: liveClient).toServer == Array("still there?".utf8))
        try liveServer.send(Array("yes".utf8))
        #expect(try TLSTestPump.run(server: liveServer, client: liveClient).toClient == Array("yes".utf8))
        #expect(liveClient.peerCertificateFingerprint == firstFingerprint)
        // A session is bound to the certificate current when it was made.
        let pendingClient = try TLSTestClient()
        try TLSTestPump.run(server: pendingServer, client: pendingClient)
        #expect(pendingClient.peerCertificateFingerprint == firstFingerprint)
    }

    @Test func reloadIsSafeWhileSessionsAreMadeConcurrently() throws {
        let certificates = try TLSTestCertificates()
        defer { certificates.remove() }
        let pair = try certificates.make("concurrent")
        let context = try TLSContext(certificatePath: pair.certificatePath, keyPath: pair.keyPath)
        let expected = try TLSTestCertificates.fingerprint(ofCertificateAt: pair.certificatePath)
        let failures = TLSTestCounter()
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            do {
                if index % 4 == 0 {
                    try context.reload()
                } else if try presentedFingerprint(context) != expected {
                    failures.increment()
                }
            } catch {
                failures.increment()
            }
        }
        #expect(failures.value == 0)
    }
}

/// A counter shared by concurrent test iterations.
final class TLSTestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
