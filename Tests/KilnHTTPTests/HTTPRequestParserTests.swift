import KilnHTTP
import Testing

/// Feeds `raw` to a parser (whole, or one byte at a time) and collects its events.
private func parseAll(
    _ raw: String, limits: HTTPParserLimits = HTTPParserLimits(),
    byteByByte: Bool = false
) throws(HTTPParseError) -> [HTTPRequestParser.Event] {
    var parser = HTTPRequestParser(limits: limits)
    var events: [HTTPRequestParser.Event] = []
    let bytes = Array(raw.utf8)
    let pieces: [[UInt8]] = byteByByte ? bytes.map { [$0] } : [bytes]
    for piece in pieces {
        parser.append(piece)
        while let event = try parser.next() { events.append(event) }
    }
    return events
}

/// The requests in `events`, with bodies joined.
private func requests(_ events: [HTTPRequestParser.Event]) -> [(HTTPRequestHead, String)] {
    var result: [(HTTPRequestHead, String)] = []
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    for event in events {
        switch event {
        case .head(let value):
            head = value
            body = []
        case .body(let bytes): body += bytes
        case .end: result.append((head!, String(decoding: body, as: UTF8.self)))
        }
    }
    return result
}

private func status(of raw: String, limits: HTTPParserLimits = HTTPParserLimits()) -> Int? {
    do {
        _ = try parseAll(raw, limits: limits)
        return nil
    } catch {
        return error.status
    }
}

@Suite("HTTP/1.1 request parser")
struct HTTPRequestParserTests {
    @Test(arguments: [false, true])
    func simpleGet(byteByByte: Bool) throws {
        let parsed = requests(
            try parseAll(
                "GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
                byteByByte: byteByByte))
        #expect(parsed.count == 1)
        let head = parsed[0].0
        #expect(head.method == "GET")
        #expect(head.target == "/v1/models?x=1")
        #expect(head.path == "/v1/models")
        #expect(head.query == "x=1")
        #expect(head.version == .http1_1)
        #expect(head.headers["accept"] == "*/*")
        #expect(head.wantsKeepAlive)
    }

    @Test(arguments: [false, true])
    func contentLengthBody(byteByByte: Bool) throws {
        let parsed = requests(
            try parseAll(
                "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
                byteByByte: byteByByte))
        #expect(parsed.count == 1)
        #expect(parsed[0].1 == "hello world")
    }

    @Test(arguments: [false, true])
    func chunkedBodyWithExtensionsAndTrailers(byteByByte: Bool) throws {
        let raw =
            "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6 ; x=\"q\"\r\n world\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
        let parsed = requests(try parseAll(raw, byteByByte: byteByByte))
        #expect(parsed.count == 2)
        #expect(parsed[0].1 == "hello world")
        #expect(parsed[0].0.headers["X-Trailer"] == nil)
        #expect(parsed[1].0.target == "/next")
    }

    @Test func pipelinedRequestsComeInOrder() throws {
        let raw = (1...5).map { "GET /\($0) HTTP/1.1\r\nHost: a\r\n\r\n" }.joined()
        let parsed = requests(try parseAll(raw))
        #expect(parsed.map(\.0.target) == ["/1", "/2", "/3", "/4", "/5"])
    }

    @Test func http10WithoutHostAndKeepAliveRules() throws {
        let plain = requests(try parseAll("GET / HTTP/1.0\r\n\r\n"))[0].0
        #expect(plain.version == .http1_0)
        #expect(!plain.wantsKeepAlive)
        let keepAlive = requests(try parseAll("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))[0].0
        #expect(keepAlive.wantsKeepAlive)
        let close = requests(try parseAll("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))[0].0
        #expect(!close.wantsKeepAlive)
    }

    @Test func acceptedVariants() throws {
        // Absolute-form, leading empty line, identical repeated lengths, OWS trimming, a later 1.x minor.
        let absolute = requests(try parseAll("GET http://a/p?q HTTP/1.1\r\nHost: a\r\n\r\n"))[0].0
        #expect(absolute.path == "/p")
        #expect(requests(try parseAll("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")).count == 1)
        let repeated = requests(try parseAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"))
        #expect(repeated[0].1 == "ok")
        let trimmed = requests(try parseAll("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t spaced \t\r\n\r\n"))[0].0
        #expect(trimmed.headers["x-a"] == "spaced")
        #expect(requests(try parseAll("GET / HTTP/1.2\r\nHost: a\r\n\r\n"))[0].0.version == .http1_1)
        #expect(requests(try parseAll("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))[0].0.target == "*")
        let expect = requests(try parseAll("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"))[0].0
        #expect(expect.expectsContinue)
        #expect(requests(try parseAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00003\r\n\r\nabc"))[0].1 == "abc")
        #expect(requests(try parseAll("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n"))[0].1 == "abc")
    }

    @Test func partialInputWaitsForMore() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8))
        #expect(try parser.next() == nil)
        #expect(!parser.isIdle)
        parser.append(Array("\r\n".utf8))
        guard case .head = try parser.next() else {
            Issue.record("expected a head")
            return
        }
        #expect(try parser.next() == .end)
        #expect(parser.isIdle)
    }

    @Test func errorsAreFinal() {
        var parser = HTTPRequestParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n".utf8))
        #expect(throws: HTTPParseError.self) { try parser.next() }
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(throws: HTTPParseError.self) { try parser.next() }
    }

    /// Every refusal of the issue, with the status it must produce.
    static let rejected: [(String, String, Int)] = [
        ("CL and TE together", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("two differing CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("CL list differing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        ("CL plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400),
        ("CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        ("CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
        ("CL with inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
        ("chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", 501),
        ("gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("TE empty element", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400),
        ("chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\n", 400),
        ("chunk size not hex", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("chunk size negative", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
        ("chunk size empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("chunk size with 0x", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
        ("more chunk data than declared", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400),
        ("chunk size bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        ("chunk extension with control byte", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\u{1}\r\nabc\r\n0\r\n\r\n", 400),
        (
            "chunk extension too long",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;" + String(repeating: "x", count: 2000) + "\r\n", 400
        ),
        ("trailer with obs-fold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400),
        ("CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", 400),
        ("bare LF line ending", "GET / HTTP/1.1\nHost: a\n\n", 400),
        ("space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  continued\r\n\r\n", 400),
        ("missing Host", "GET / HTTP/1.1\r\n\r\n", 400),
        ("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
        ("empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400),
        ("field without colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
        ("binary garbage", "\u{1}\u{2}\u{3}\u{4}garbage", 400),
        ("TLS ClientHello", "\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}\u{0}\u{1}\u{fc}\u{3}\u{3}", 400),
        ("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("missing version", "GET /\r\nHost: a\r\n\r\n", 400),
        ("relative target", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("asterisk outside OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        ("HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        ("non-ASCII in target", "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("too many empty lines first", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ]

    @Test(arguments: rejected)
    func rejects(_ name: String, _ raw: String, _ expected: Int) {
        #expect(status(of: raw) == expected, "\(name)")
    }

    @Test func limits() {
        let limits = HTTPParserLimits(maxTargetBytes: 64, maxHeaderBytes: 512, maxHeaderCount: 5, maxBodyBytes: 10)
        let longTarget = "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(status(of: longTarget, limits: limits) == 414)
        // 414 is known before the request line even ends.
        #expect(status(of: "GET /" + String(repeating: "a", count: 100), limits: limits) == 414)
        let bigHeader = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 600) + "\r\n\r\n"
        #expect(status(of: bigHeader, limits: limits) == 431)
        let manyHeaders = "GET / HTTP/1.1\r\nHost: a\r\n" + (0..<6).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(status(of: manyHeaders, limits: limits) == 431)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits: limits) == 413)
        let bigChunks = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n"
        #expect(status(of: bigChunks, limits: limits) == 413)
        let bigTrailer =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "
            + String(repeating: "t", count: 600) + "\r\n\r\n"
        #expect(status(of: bigTrailer, limits: limits) == 431)
        #expect(status(of: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits) == nil)
    }

    /// Found by the fuzzer: an over-long trailer line ending in a bare LF gave 400 when read whole
    /// and 431 when read in pieces. The verdict must not depend on how reads split the input.
    @Test(arguments: [1, 7, 13, 64, 10_000])
    func verdictDoesNotDependOnReadSizes(pieceSize: Int) {
        let limits = HTTPParserLimits(maxHeaderBytes: 512)
        let inputs = [
            "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "x", count: 600) + "\n",
            "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "x", count: 600) + "\n\r\n",
        ]
        for input in inputs {
            var whole = HTTPRequestParser(limits: limits)
            whole.append(Array(input.utf8))
            var wholeError: HTTPParseError?
            do { while try whole.next() != nil {} } catch { wholeError = error }
            var pieces = HTTPRequestParser(limits: limits)
            var piecesError: HTTPParseError?
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count && piecesError == nil {
                pieces.append(Array(bytes[offset..<min(offset + pieceSize, bytes.count)]))
                offset += pieceSize
                do { while try pieces.next() != nil {} } catch { piecesError = error }
            }
            #expect(wholeError != nil)
            #expect(wholeError == piecesError)
        }
    }

    @Test func statesReportedToTheConnection() throws {
        var parser = HTTPRequestParser()
        #expect(parser.isIdle)
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab".utf8))
        guard case .head = try parser.next() else {
            Issue.record("expected a head")
            return
        }
        #expect(parser.isReadingBody)
        #expect(try parser.next() == .body(Array("ab".utf8)))
        #expect(try parser.next() == nil)
        parser.append(Array("cd".utf8))
        #expect(try parser.next() == .body(Array("cd".utf8)))
        #expect(try parser.next() == .end)
        #expect(parser.isIdle && !parser.isReadingBody)
    }
}
