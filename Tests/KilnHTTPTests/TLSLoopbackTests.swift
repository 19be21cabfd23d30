import Foundation
import KilnHTTP
import Testing

/// `TLSSession` on real loopback sockets against real clients: `openssl s_client` and curl.
@Suite struct TLSLoopbackTests {
    static let request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

    func withServer(_ body: (TLSLoopbackServer, TLSTestCertificates.Pair) throws -> Void) throws {
        let certificates = try TLSTestCertificates()
        defer { certificates.remove() }
        let pair = try certificates.make("loopback")
        let server = try TLSLoopbackServer(context: TLSContext(certificatePath: pair.certificatePath, keyPath: pair.keyPath))
        try body(server, pair)
    }

    @Test(arguments: [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")])
    func sClientIsServed(flag: String, expectedProtocol: String) throws {
        try withServer { server, pair in
            let result = try OpenSSLCommandLineClient.run(
                port: server.port, arguments: [flag, "-CAfile", pair.certificatePath, "-verify_return_error"],
                request: Self.request)
            let (error, negotiated) = server.finish()
            let output = String(decoding: result.stdout, as: UTF8.self)
            #expect(error == nil)
            #expect(negotiated == expectedProtocol)
            #expect(output.contains("HTTP/1.1 200 OK"), "\(output)\n\(result.stderr)")
            #expect(output.contains("negotiated \(expectedProtocol)"))
            #expect(output.contains("Verify return code: 0 (ok)"))
        }
    }

    @Test func sClientWithTls11IsRefused() throws {
        try withServer { server, _ in
            let result = try OpenSSLCommandLineClient.run(
                port: server.port, arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], request: Self.request)
            let (error, negotiated) = server.finish()
            let output = String(decoding: result.stdout, as: UTF8.self)
            #expect(result.status != 0)
            #expect(!output.contains("200 OK"))
            #expect(result.stderr.contains("alert protocol version"), "\(result.stderr)")
            #expect(negotiated == nil)
            guard case .handshakeFailed(let reason) = error else {
                Issue.record("expected handshakeFailed, got \(String(describing: error))")
                return
            }
            #expect(reason.contains("unsupported protocol"))
        }
    }

    @Test func curlVerifiesAndIsServed() throws {
        try withServer { server, pair in
            let result = try CodecTestProcess.run(
                "curl",
                [
                    "--silent", "--show-error", "--max-time", "10", "--cacert", pair.certificatePath,
                    "--resolve", "localhost:\(server.port):127.0.0.1", "https://localhost:\(server.port)/",
                ])
            let (error, negotiated) = server.finish()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(String(decoding: result.stdout, as: UTF8.self) == "negotiated TLSv1.3\n")
            #expect(error == nil)
            #expect(negotiated == "TLSv1.3")
        }
    }

    @Test func plainHttpClientIsCutOff() throws {
        try withServer { server, _ in
            let result = try CodecTestProcess.run(
                "curl",
                [
                    "--silent", "--max-time", "10", "http://127.0.0.1:\(server.port)/",
                ])
            let (error, _) = server.finish()
            #expect(error == .plaintextHTTPRequest)
            #expect(result.status != 0)
            #expect(result.stdout.isEmpty)
        }
    }
}
