import Foundation
import KilnHTTP
import Testing

/// One hostile or malformed request sent on a fresh connection to a live server.
struct MalformedCase: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let status: Int
    /// Whether the server must close the connection after answering.
    let closes: Bool

    init(_ name: String, _ text: String, _ status: Int, closes: Bool = true) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.status = status
        self.closes = closes
    }

    init(_ name: String, bytes: [UInt8], _ status: Int, closes: Bool = true) {
        self.name = name
        self.bytes = bytes
        self.status = status
        self.closes = closes
    }

    var testDescription: String { "\(name) → \(status)\(closes ? ", closes" : ", stays open")" }
}

@Suite("Malformed requests on a raw socket")
struct MalformedRequestSuiteTests {
    static let host = "Host: localhost\r\n"

    static let cases: [MalformedCase] = [
        // Framing and smuggling.
        MalformedCase("CL with TE", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        MalformedCase("TE with CL", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
        MalformedCase("differing CLs", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        MalformedCase("differing CL list", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1,2\r\n\r\nab", 400),
        MalformedCase("CL +3", "POST /echo HTTP/1.1\r\n\(host)Content-Length: +3\r\n\r\nabc", 400),
        MalformedCase("CL -1", "POST /echo HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", 400),
        MalformedCase("CL 0x3", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0x3\r\n\r\nabc", 400),
        MalformedCase("CL overflow", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 18446744073709551617\r\n\r\n", 400),
        MalformedCase("CL letters", "POST /echo HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n", 400),
        MalformedCase("chunked not last", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, identity\r\n\r\n", 501),
        MalformedCase("chunked then gzip", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        MalformedCase("chunked twice", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        MalformedCase("unknown transfer coding", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n", 501),
        MalformedCase("gzip, chunked", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        MalformedCase("TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        MalformedCase("chunk size overflow", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400),
        MalformedCase("chunk size garbage", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nxyz\r\n", 400),
        MalformedCase("chunk size negative", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n-5\r\n", 400),
        MalformedCase("chunk size with spaces inside", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1 2\r\n", 400),
        MalformedCase(
            "more chunk data than declared", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n", 400),
        MalformedCase("chunk line bare LF", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", 400),
        MalformedCase(
            "chunk extension too long",
            "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 5000) + "\r\n", 400),
        MalformedCase("chunked body too large", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
        // Field syntax.
        MalformedCase("CR inside value", "GET /health HTTP/1.1\r\n\(host)X-A: one\rtwo\r\n\r\n", 400),
        MalformedCase("LF inside value (bare LF)", "GET /health HTTP/1.1\r\n\(host)X-A: one\ntwo\r\n\r\n", 400),
        MalformedCase("NUL inside value", "GET /health HTTP/1.1\r\n\(host)X-A: one\u{0}two\r\n\r\n", 400),
        MalformedCase("DEL inside value", "GET /health HTTP/1.1\r\n\(host)X-A: one\u{7f}two\r\n\r\n", 400),
        MalformedCase("space before colon", "GET /health HTTP/1.1\r\n\(host)X-A : v\r\n\r\n", 400),
        MalformedCase("tab before colon", "GET /health HTTP/1.1\r\n\(host)X-A\t: v\r\n\r\n", 400),
        MalformedCase("obs-fold", "GET /health HTTP/1.1\r\n\(host)X-A: v\r\n\tmore\r\n\r\n", 400),
        MalformedCase("invalid field name", "GET /health HTTP/1.1\r\n\(host)X(A): v\r\n\r\n", 400),
        MalformedCase("missing Host", "GET /health HTTP/1.1\r\n\r\n", 400),
        MalformedCase("duplicate Host", "GET /health HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        MalformedCase("bad Host", "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        // Request line.
        MalformedCase("binary garbage", bytes: [0x00, 0xFF, 0x13, 0x37, 0x42, 0x0D, 0x0A, 0x0D, 0x0A], 400),
        MalformedCase(
            "TLS ClientHello on plain port",
            bytes: [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03] + [UInt8](repeating: 0x2A, count: 32), 400),
        MalformedCase("lowercase protocol", "GET /health http/1.1\r\n\(host)\r\n", 400),
        MalformedCase("HTTP/2.0 version", "GET /health HTTP/2.0\r\n\(host)\r\n", 505),
        MalformedCase("HTTP/0.9 version", "GET /health HTTP/0.9\r\n\(host)\r\n", 505),
        MalformedCase("no version", "GET /health\r\n\(host)\r\n", 400),
        MalformedCase("extra spaces", "GET  /health  HTTP/1.1\r\n\(host)\r\n", 400),
        MalformedCase("bare LF request", "GET /health HTTP/1.1\n\(host.replacingOccurrences(of: "\r", with: ""))\n", 400),
        MalformedCase("method with bad byte", "GE<T /health HTTP/1.1\r\n\(host)\r\n", 400),
        MalformedCase("relative target", "GET health HTTP/1.1\r\n\(host)\r\n", 400),
        // Limits.
        MalformedCase("target too long", "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\(host)\r\n", 414),
        MalformedCase("header section too large", "GET /health HTTP/1.1\r\n\(host)X-Big: " + String(repeating: "b", count: 40_000) + "\r\n\r\n", 431),
        MalformedCase("too many headers", "GET /health HTTP/1.1\r\n\(host)" + (0..<150).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431),
        MalformedCase("body too large", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 2000000\r\n\r\n", 413),
        MalformedCase(
            "body too large with 100-continue", "POST /echo HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", 413),
        MalformedCase("unknown expectation", "POST /echo HTTP/1.1\r\n\(host)Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
        // Answers that keep the connection.
        MalformedCase("unknown path", "GET /nope HTTP/1.1\r\n\(host)\r\n", 404, closes: false),
        MalformedCase("wrong method", "DELETE /health HTTP/1.1\r\n\(host)\r\n", 405, closes: false),
        MalformedCase("unknown method", "BREW /health HTTP/1.1\r\n\(host)\r\n", 405, closes: false),
        MalformedCase("absolute-form target", "GET http://localhost/health HTTP/1.1\r\n\(host)\r\n", 200, closes: false),
        MalformedCase("leading empty line", "\r\nGET /health HTTP/1.1\r\n\(host)\r\n", 200, closes: false),
        MalformedCase("Connection: close is honoured", "GET /health HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", 200),
        MalformedCase("HTTP/1.0 closes by default", "GET /health HTTP/1.0\r\n\r\n", 200),
    ]

    @Test(arguments: cases)
    func answersAndClosesAsExpected(_ testCase: MalformedCase) throws {
        let server = try TestServer { configuration in
            configuration.parserLimits.maxBodyBytes = 1_000_000
        }
        let client = try RawClient(port: server.port, timeout: 5)
        client.send(testCase.bytes)
        if testCase.closes {
            let (bytes, closed) = client.readUntilClose()
            let (response, _) = try #require(ParsedResponse.parse(bytes), "no complete response to \(testCase.name)")
            #expect(response.status == testCase.status, "\(testCase.name)")
            #expect(closed, "\(testCase.name): connection not closed")
            #expect(response.header("Connection") == "close", "\(testCase.name)")
            if response.status >= 400 {
                // Errors are OpenAI-style JSON.
                #expect(response.bodyText.hasPrefix("{\"error\":{\"message\":"), "\(testCase.name)")
                #expect(!response.bodyText.contains("100 Continue"))
            }
        } else {
            let response = try #require(client.readResponse(), "no response to \(testCase.name)")
            #expect(response.status == testCase.status, "\(testCase.name)")
            client.send("GET /health HTTP/1.1\r\n\(Self.host)\r\n")
            let next = try #require(client.readResponse(), "\(testCase.name): connection did not stay usable")
            #expect(next.status == 200)
        }
    }

    @Test func suiteIsLargeEnough() {
        #expect(Self.cases.count >= 40)
    }
}
