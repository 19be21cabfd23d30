import Foundation
import KilnHTTP
import Testing

/// The server driven by real clients: curl and Python's http.client.
@Suite("Real clients: curl and Python http.client")
struct ClientIntegrationTests {
    @Test func curlReusesTheConnection() throws {
        let server = try TestServer()
        let url = "http://127.0.0.1:\(server.port)/health"
        let result = try ProcessRunner.run(
            "curl",
            [
                "-s", "-w", "%{http_code} %{num_connects}\\n",
                "-o", "/dev/null", url, "-o", "/dev/null", url, "-o", "/dev/null", url,
            ])
        #expect(result.status == 0)
        #expect(result.stdout == "200 1\n200 0\n200 0\n")
    }

    @Test func curlChunkedUploadIsEchoed() throws {
        let server = try TestServer()
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let file = try ProcessRunner.temporaryFile(payload)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = file.appendingPathExtension("out")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try ProcessRunner.run(
            "curl",
            [
                "-s", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file.path)",
                "-o", output.path, "-w", "%{http_code}",
                "http://127.0.0.1:\(server.port)/echo",
            ])
        #expect(result.stdout == "200")
        #expect(try Data(contentsOf: output) == Data(payload))
    }

    @Test func curlHeadHasLengthButNoBody() throws {
        let server = try TestServer()
        let result = try ProcessRunner.run("curl", ["-s", "-I", "http://127.0.0.1:\(server.port)/health"])
        #expect(result.stdout.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(result.stdout.contains("Content-Length: 15\r\n"))
        #expect(result.stdout.hasSuffix("\r\n\r\n"))
    }

    @Test func curlGetsHundredContinue() throws {
        let server = try TestServer()
        let payload = [UInt8](repeating: 0x61, count: 50_000)
        let file = try ProcessRunner.temporaryFile(payload)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try ProcessRunner.run(
            "curl",
            [
                "-sv", "-H", "Expect: 100-continue", "--data-binary", "@\(file.path)",
                "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                "http://127.0.0.1:\(server.port)/echo",
            ])
        #expect(result.stderr.contains("HTTP/1.1 100 Continue"))
        #expect(result.stdout == "200 50000")
    }

    @Test func curlReadsAnEventStream() throws {
        let server = try TestServer()
        let result = try ProcessRunner.run("curl", ["-sN", "-i", "http://127.0.0.1:\(server.port)/events?n=5"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Content-Type: text/event-stream"))
        #expect(result.stdout.contains("Transfer-Encoding: chunked"))
        // "\r\n" is one Character in Swift: normalise before splitting lines.
        let lines = result.stdout.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        let data = lines.filter { $0.hasPrefix("data: ") }
        #expect(data == ["data: {\"n\":0}", "data: {\"n\":1}", "data: {\"n\":2}", "data: {\"n\":3}", "data: {\"n\":4}", "data: [DONE]"])
    }

    @Test func curlOverIPv6() throws {
        let router = TestServer.standardRouter()
        let server = try TestServer(router: router) { $0.host = "::1" }
        let result = try ProcessRunner.run("curl", ["-s", "-g", "http://[::1]:\(server.port)/health"])
        #expect(result.stdout == "{\"status\":\"ok\"}")
    }

    @Test func unspecifiedIPv6AddressAlsoServesIPv4() throws {
        let server = try TestServer { $0.host = "::" }
        let v4 = try ProcessRunner.run("curl", ["-s", "http://127.0.0.1:\(server.port)/health"])
        let v6 = try ProcessRunner.run("curl", ["-s", "-g", "http://[::1]:\(server.port)/health"])
        #expect(v4.stdout == "{\"status\":\"ok\"}")
        #expect(v6.stdout == "{\"status\":\"ok\"}")
    }

    static let pythonScript = """
        import http.client, json, sys
        port = int(sys.argv[1])
        out = {}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses = []
        sockets = set()
        for _ in range(3):
            conn.request("GET", "/health")
            r = conn.getresponse()
            statuses.append((r.status, r.read().decode()))
            sockets.add(id(conn.sock))
        out["keepalive"] = {"statuses": statuses, "sockets": len(sockets)}
        conn.request("POST", "/echo", body=iter([b"abc", b"def", b"ghi"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        out["chunked"] = [r.status, r.read().decode()]
        conn.request("HEAD", "/health")
        r = conn.getresponse()
        out["head"] = [r.status, r.getheader("Content-Length"), r.read().decode()]
        conn.request("GET", "/no-content")
        r = conn.getresponse()
        out["nocontent"] = [r.status, r.getheader("Content-Length"), r.read().decode()]
        conn.request("GET", "/events?n=3")
        r = conn.getresponse()
        out["sse"] = [r.status, r.getheader("Content-Type"), r.read().decode()]
        conn.request("GET", "/health")
        r = conn.getresponse()
        out["after_stream"] = [r.status, r.read().decode()]
        conn.request("POST", "/echo", body=b"x" * 2000, headers={"Expect": "100-continue"})
        r = conn.getresponse()
        out["expect"] = [r.status, len(r.read())]
        conn10 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn10._http_vsn = 10
        conn10._http_vsn_str = "HTTP/1.0"
        conn10.request("GET", "/events?n=2")
        r = conn10.getresponse()
        out["http10_stream"] = [r.status, r.getheader("Transfer-Encoding"), r.read().decode()]
        print(json.dumps(out))
        """

    @Test func pythonHTTPClient() throws {
        let server = try TestServer()
        let result = try ProcessRunner.python(Self.pythonScript, [String(server.port)])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let keepAlive = try #require(json["keepalive"] as? [String: Any])
        #expect(keepAlive["sockets"] as? Int == 1)
        #expect((keepAlive["statuses"] as? [[Any]])?.map { $0[0] as? Int } == [200, 200, 200])
        #expect(json["chunked"] as? [AnyHashable] == [200, "abcdefghi"])
        #expect(json["head"] as? [AnyHashable] == [200, "15", ""])
        let noContent = try #require(json["nocontent"] as? [Any])
        #expect(noContent[0] as? Int == 204)
        #expect(noContent[1] is NSNull)
        #expect(noContent[2] as? String == "")
        let sse = try #require(json["sse"] as? [Any])
        #expect(sse[0] as? Int == 200)
        #expect(sse[2] as? String == "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n")
        #expect(json["after_stream"] as? [AnyHashable] == [200, "{\"status\":\"ok\"}"])
        #expect(json["expect"] as? [AnyHashable] == [200, 2000])
        let http10 = try #require(json["http10_stream"] as? [Any])
        #expect(http10[0] as? Int == 200)
        #expect(http10[1] is NSNull)
        #expect(http10[2] as? String == "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: [DONE]\n\n")
    }
}
