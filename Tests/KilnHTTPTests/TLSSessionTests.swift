import COpenSSL
import Foundation
import KilnHTTP
import Testing

/// In-memory handshakes between `TLSSession` (server) and an OpenSSL client with chosen settings.
@Suite struct TLSSessionTests {
    /// Runs `body` with a fresh context on a throwaway certificate.
    func withContext(
        keyType: TLSTestCertificates.KeyType = .ecdsaP256,
        _ body: (TLSContext, TLSTestCertificates.Pair) throws -> Void
    ) throws {
        let certificates = try TLSTestCertificates()
        defer { certificates.remove() }
        let pair = try certificates.make("server", keyType: keyType)
        let context = try TLSContext(certificatePath: pair.certificatePath, keyPath: pair.keyPath)
        try body(context, pair)
    }

    @Test func tls13HandshakeAndDataBothWays() throws {
        try withContext { context, pair in
            let server = context.makeSession()
            let client = try TLSTestClient(trustedCertificatePath: pair.certificatePath)
            #expect(!server.isHandshakeComplete)
            #expect(server.negotiatedProtocol == nil)
            try TLSTestPump.run(server: server, client: client)
            #expect(server.isHandshakeComplete)
            #expect(client.isHandshakeComplete)
            #expect(server.negotiatedProtocol == "TLSv1.3")
            #expect(client.negotiatedProtocol == "TLSv1.3")
            #expect(server.negotiatedCipher == client.negotiatedCipher)
            #expect(server.negotiatedCipher?.hasPrefix("TLS_") == true)
            // The client verified the chain against the certificate file: it is what we presented.
            #expect(
                client.peerCertificateFingerprint
                    == (try TLSTestCertificates.fingerprint(ofCertificateAt: pair.certificatePath)))

            let request = CodecTestData.random(count: 100_000, seed: 21)
            try client.send(request)
            #expect(try TLSTestPump.run(server: server, client: client).toServer == request)

            // 3 MiB in one send: many records, and the output buffer is replaced after draining.
            let response = CodecTestData.text(count: 3 << 20)
            try server.send(response)
            #expect(server.hasPendingOutput)
            #expect(try TLSTestPump.run(server: server, client: client).toClient == response)
            #expect(!server.hasPendingOutput)

            // And again after the buffer swap.
            try server.send(Array("second".utf8))
            #expect(try TLSTestPump.run(server: server, client: client).toClient == Array("second".utf8))
        }
    }

    @Test func tls12ClientSucceeds() throws {
        try withContext { context, _ in
            let server = context.makeSession()
            let client = try TLSTestClient(maxVersion: TLS1_2_VERSION)
            try TLSTestPump.run(server: server, client: client)
            #expect(server.negotiatedProtocol == "TLSv1.2")
            let cipher = try #require(server.negotiatedCipher)
            #expect(TLSContext.tls12CipherList.split(separator: ":").contains(Substring(cipher)), "\(cipher)")
            try client.send(Array("ping".utf8))
            #expect(try TLSTestPump.run(server: server, client: client).toServer == Array("ping".utf8))
        }
    }

    @Test func tls12DheWithRsaCertificate() throws {
        // The DHE-RSA suites need Diffie-Hellman parameters: chosen automatically by key size.
        try withContext(keyType: .rsa2048) { context, _ in
            let server = context.makeSession()
            let client = try TLSTestClient(maxVersion: TLS1_2_VERSION, cipherList: "DHE-RSA-AES128-GCM-SHA256")
            try TLSTestPump.run(server: server, client: client)
            #expect(server.negotiatedCipher == "DHE-RSA-AES128-GCM-SHA256")
        }
    }

    @Test(arguments: [TLS1_VERSION, TLS1_1_VERSION])
    func oldProtocolsAreRefused(version: Int32) throws {
        try withContext { context, _ in
            let server = context.makeSession()
            // SECLEVEL=0 so that OpenSSL 3 really offers TLS 1.0/1.1 and the refusal is the server's.
            let client = try TLSTestClient(minVersion: version, maxVersion: version, cipherList: "DEFAULT:@SECLEVEL=0")
            var serverError: TLSError?
            do {
                try TLSTestPump.run(server: server, client: client)
            } catch let error as TLSError {
                serverError = error
            }
            guard case .handshakeFailed(let reason) = serverError else {
                Issue.record("expected handshakeFailed, got \(String(describing: serverError))")
                return
            }
            #expect(reason.contains("unsupported protocol"), "\(reason)")
            #expect(!server.isHandshakeComplete)
            // The alert explaining the refusal reaches the client.
            let alert = server.takeOutput()
            #expect(alert.first == 21, "a TLS alert record")
            #expect(throws: TLSTestFailure.self) { _ = try client.receive(alert) }
        }
    }

    @Test func weakTls12CiphersAreRefused() throws {
        try withContext(keyType: .rsa2048) { context, _ in
            for weak in ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384"] {
                let server = context.makeSession()
                let client = try TLSTestClient(maxVersion: TLS1_2_VERSION, cipherList: weak)
                #expect(throws: TLSError.self, "\(weak)") { try TLSTestPump.run(server: server, client: client) }
                #expect(!server.isHandshakeComplete)
            }
        }
    }

    @Test func plainHttpOnTheTlsPortIsAnError() throws {
        try withContext { context, _ in
            for request in ["GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "POST /v1/completions HTTP/1.1\r\n\r\n"] {
                let server = context.makeSession()
                #expect(throws: TLSError.plaintextHTTPRequest) { _ = try server.receive(Array(request.utf8)) }
                // The session is spent: every later call reports the same failure.
                #expect(throws: TLSError.plaintextHTTPRequest) { _ = try server.receive(Array("x".utf8)) }
                #expect(throws: TLSError.plaintextHTTPRequest) { try server.send(Array("x".utf8)) }
                #expect(TLSError.plaintextHTTPRequest.isFatalToConnection)
            }
            // Split across reads: a few bytes are not yet enough to judge.
            let server = context.makeSession()
            let early = try server.receive(Array("GE".utf8))
            #expect(early.isEmpty)
            #expect(!server.isHandshakeComplete)
            #expect(throws: TLSError.plaintextHTTPRequest) { _ = try server.receive(Array("T / HTTP/1.1\r\n".utf8)) }
        }
    }

    @Test func garbageInsteadOfClientHelloFails() throws {
        try withContext { context, _ in
            let garbage: [[UInt8]] = [
                CodecTestData.random(count: 600, seed: 99),
                [0x16, 0x03, 0x01, 0xff, 0xff] + [UInt8](repeating: 0, count: 100),  // oversized record
                [0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5],  // application data before a handshake
            ]
            for bytes in garbage {
                let server = context.makeSession()
                var caught: TLSError?
                do { _ = try server.receive(bytes) } catch let error as TLSError { caught = error }
                guard case .handshakeFailed(let reason) = caught else {
                    Issue.record("expected handshakeFailed, got \(String(describing: caught))")
                    continue
                }
                #expect(!reason.isEmpty)
            }
        }
    }

    @Test func misuseIsReportedNotCrashed() throws {
        try withContext { context, _ in
            let server = context.makeSession()
            #expect(throws: TLSError.handshakeNotComplete) { try server.send(Array("early".utf8)) }
            #expect(server.takeOutput().isEmpty)
            server.close()  // before the handshake: nothing to send, no crash
            #expect(server.takeOutput().isEmpty)
        }
    }

    @Test func closeNotifyBothWays() throws {
        try withContext { context, _ in
            // Server closes: the client sees close_notify; later sends are refused.
            let server = context.makeSession()
            let client = try TLSTestClient()
            try TLSTestPump.run(server: server, client: client)
            try server.send(Array("bye".utf8))
            server.close()
            server.close()
            #expect(throws: TLSError.sessionClosed) { try server.send(Array("more".utf8)) }
            let delivered = try TLSTestPump.run(server: server, client: client)
            #expect(delivered.toClient == Array("bye".utf8))
            #expect(client.peerClosed)

            // Client closes: the server's peerClosed turns true, and it may still answer (half-close).
            let server2 = context.makeSession()
            let client2 = try TLSTestClient()
            try TLSTestPump.run(server: server2, client: client2)
            try client2.send(Array("last request".utf8))
            client2.close()
            #expect(try TLSTestPump.run(server: server2, client: client2).toServer == Array("last request".utf8))
            #expect(server2.peerClosed)
            try server2.send(Array("last response".utf8))
            server2.close()
            #expect(server2.hasPendingOutput)
        }
    }

    @Test func renegotiationIsRefused() throws {
        try withContext { context, _ in
            let server = context.makeSession()
            let client = try TLSTestClient(maxVersion: TLS1_2_VERSION)
            try TLSTestPump.run(server: server, client: client)
            #expect(client.requestRenegotiation())
            // The server answers the renegotiation request with a no_renegotiation alert; the
            // client's renegotiation fails and it never completes a second handshake.
            let failure = #expect(throws: TLSTestFailure.self) { try TLSTestPump.run(server: server, client: client) }
            #expect(failure?.description.contains("no renegotiation") == true, "\(String(describing: failure))")
            // The server did not fail: it refused politely and its session is intact.
            #expect(server.isHandshakeComplete)
        }
    }
}
