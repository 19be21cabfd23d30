import Foundation
import KilnHTTP
import Testing

/// TLS and gzip on the production connection code, driven by curl, openssl s_client and Python.
@Suite("Server TLS and gzip")
struct ServerTLSAndGzipTests {
    final class TLSFixture {
        let certificates: TLSTestCertificates
        let pair: TLSTestCertificates.Pair
        let context: TLSContext
        let server: TestServer

        init(configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
            certificates = try TLSTestCertificates()
            pair = try certificates.make("server")
            context = try TLSContext(certificatePath: pair.certificatePath, keyPath: pair.keyPath)
            let factory = context.securityLayerFactory
            server = try TestServer { configuration in
                configuration.securityLayerFactory = factory
                configure(&configuration)
            }
        }

        deinit { certificates.remove() }
    }

    @Test func curlOverTLSWithKeepAlive() throws {
        let fixture = try TLSFixture()
        let port = fixture.server.port
        let url = "https://localhost:\(port)/health"
        let result = try ProcessRunner.run(
            "curl",
            [
                "-s", "--cacert", fixture.pair.certificatePath, "--resolve", "localhost:\(port):127.0.0.1",
                "-w", " %{http_code} %{num_connects}\\n", url, url,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "{\"status\":\"ok\"} 200 1\n{\"status\":\"ok\"} 200 0\n")
    }

    @Test func curlStreamsEventsOverTLS() throws {
        let fixture = try TLSFixture()
        let port = fixture.server.port
        let result = try ProcessRunner.run(
            "curl",
            [
                "-sN", "--cacert", fixture.pair.certificatePath, "--resolve", "localhost:\(port):127.0.0.1",
                "https://localhost:\(port)/events?n=2",
            ])
        #expect(result.stdout == "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: [DONE]\n\n")
    }

    @Test(arguments: [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
    func sClientAcceptedVersions(_ flag: String, _ version: String) throws {
        let fixture = try TLSFixture()
        let result = try OpenSSLCommandLineClient.run(
            port: UInt16(fixture.server.port), arguments: [flag],
            request: "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(output.contains("HTTP/1.1 200 OK"))
        #expect(output.contains("{\"status\":\"ok\"}"))
        #expect(output.contains(version))
    }

    @Test func sClientTLS11IsRefused() throws {
        let fixture = try TLSFixture()
        let result = try OpenSSLCommandLineClient.run(
            port: UInt16(fixture.server.port), arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            request: "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(result.status != 0)
        #expect(!String(decoding: result.stdout, as: UTF8.self).contains("HTTP/1.1 200"))
        // The server is still fine afterwards.
        let again = try OpenSSLCommandLineClient.run(
            port: UInt16(fixture.server.port), arguments: [],
            request: "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(String(decoding: again.stdout, as: UTF8.self).contains("HTTP/1.1 200 OK"))
    }

    @Test func plainHTTPOnTheTLSPortIsClosed() throws {
        let fixture = try TLSFixture()
        let client = try RawClient(port: fixture.server.port)
        client.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let (bytes, closed) = client.readUntilClose()
        #expect(closed)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("200 OK"))
    }

    @Test func silentClientHitsTheHandshakeTimeout() throws {
        let fixture = try TLSFixture { $0.handshakeTimeout = 0.3 }
        let client = try RawClient(port: fixture.server.port)
        let start = Date()
        let (_, closed) = client.readUntilClose()
        #expect(closed)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    // MARK: gzip

    static func gzipRouter() -> Router {
        let router = TestServer.standardRouter()
        router.get("/big-json") { _, responder in
            responder.respond(.json(ServerTLSAndGzipTests.bigJSON))
        }
        router.get("/big-events") { _, responder in
            let events = responder.startEventStream()
            events.send(data: ServerTLSAndGzipTests.bigJSON)
            events.finish()
        }
        return router
    }

    static let bigJSON = "{\"items\":[" + (0..<300).map { "{\"index\":\($0),\"text\":\"lorem ipsum dolor\"}" }.joined(separator: ",") + "]}"

    @Test func jsonIsCompressedForClientsThatAcceptGzip() throws {
        let server = try TestServer(router: Self.gzipRouter())
        let client = try RawClient(port: server.port)
        client.send("GET /big-json HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br;q=1, gzip;q=0.8\r\n\r\n")
        let compressed = try #require(client.readResponse())
        #expect(compressed.header("Content-Encoding") == "gzip")
        #expect(compressed.header("Vary") == "Accept-Encoding")
        #expect(compressed.body.count < Self.bigJSON.utf8.count / 4)
        // Decoded by Python's gzip module, independently of our zlib use.
        let file = try ProcessRunner.temporaryFile(compressed.body)
        defer { try? FileManager.default.removeItem(at: file) }
        let decoded = try ProcessRunner.python("import gzip,sys; sys.stdout.write(gzip.open(sys.argv[1]).read().decode())", [file.path])
        #expect(decoded.stdout == Self.bigJSON)

        client.send("GET /big-json HTTP/1.1\r\nHost: a\r\n\r\n")
        let plain = try #require(client.readResponse())
        #expect(plain.header("Content-Encoding") == nil)
        #expect(plain.header("Vary") == "Accept-Encoding")
        #expect(plain.bodyText == Self.bigJSON)

        client.send("GET /health HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
        #expect(client.readResponse()?.header("Content-Encoding") == nil)

        client.send("GET /big-events HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
        let events = try #require(client.readResponse())
        #expect(events.header("Content-Encoding") == nil)
        #expect(events.bodyText == "data: \(Self.bigJSON)\n\n")
    }

    @Test func curlCompressedRoundTrip() throws {
        let server = try TestServer(router: Self.gzipRouter())
        let result = try ProcessRunner.run(
            "curl",
            [
                "-s", "--compressed", "-w", "\\n%{size_download}",
                "http://127.0.0.1:\(server.port)/big-json",
            ])
        let parts = result.stdout.components(separatedBy: "\n")
        #expect(parts.first == Self.bigJSON)
        #expect((Int(parts.last ?? "") ?? .max) < Self.bigJSON.utf8.count / 4)
    }

    /// Writes gzip data made by Python's gzip module to a temporary file.
    private func pythonGzip(_ expression: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-gz-\(UUID().uuidString)")
        let result = try ProcessRunner.python("import gzip,sys; open(sys.argv[1],'wb').write(gzip.compress(\(expression)))", [file.path])
        guard result.status == 0 else { throw TestFailure(result.stderr) }
        return file
    }

    @Test func gzipRequestBodiesAreInflatedWithTheLimitOnTheInflatedSize() throws {
        let server = try TestServer { $0.parserLimits.maxBodyBytes = 1_000_000 }
        let small = try pythonGzip("b'hello gzip ' * 1000")
        let bomb = try pythonGzip("bytes(20_000_000)")
        defer {
            try? FileManager.default.removeItem(at: small)
            try? FileManager.default.removeItem(at: bomb)
        }
        let url = "http://127.0.0.1:\(server.port)/echo"
        let echoed = try ProcessRunner.run("curl", ["-s", "-H", "Content-Encoding: gzip", "--data-binary", "@\(small.path)", url])
        #expect(echoed.stdout == String(repeating: "hello gzip ", count: 1000))
        let chunked = try ProcessRunner.run(
            "curl",
            [
                "-s", "-H", "Content-Encoding: gzip", "-H", "Transfer-Encoding: chunked",
                "--data-binary", "@\(small.path)", url,
            ])
        #expect(chunked.stdout == String(repeating: "hello gzip ", count: 1000))
        let bombed = try ProcessRunner.run(
            "curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Encoding: gzip",
                "--data-binary", "@\(bomb.path)", url,
            ])
        #expect(bombed.stdout == "413")
        let client = try RawClient(port: server.port)
        client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnotgz")
        #expect(ParsedResponse.parse(client.readUntilClose().bytes)?.0.status == 400)
        let brotli = try RawClient(port: server.port)
        brotli.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx")
        #expect(ParsedResponse.parse(brotli.readUntilClose().bytes)?.0.status == 415)
    }
}
