import KilnHTTP
import Testing

/// A parser reuses the strings of the previous head where the next one repeats it byte for byte
/// (keep-alive clients send mostly the same target and fields). Each request here is parsed after
/// another on one parser and must decode, or fail, exactly as it does on a fresh parser.
@Suite("Repeated request heads")
struct RepeatedHeadTests {
    /// The head of `raw` on a fresh parser, or the status of its error.
    private func parsedAlone(_ raw: String) -> Result<HTTPRequestHead, HTTPParseError> {
        var parser = HTTPRequestParser()
        return parseNext(raw, on: &parser)
    }

    private func parseNext(_ raw: String, on parser: inout HTTPRequestParser) -> Result<HTTPRequestHead, HTTPParseError> {
        parser.append(Array(raw.utf8))
        do {
            while let event = try parser.next() {
                if case .head(let head) = event {
                    // Consume the rest of this request so the parser waits for the next one.
                    while let rest = try parser.next(), rest != .end {}
                    return .success(head)
                }
            }
            return .failure(.badRequest("incomplete"))
        } catch {
            return .failure(error)
        }
    }

    private func expectSameAsAlone(after first: String, _ second: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var parser = HTTPRequestParser()
        _ = parseNext(first, on: &parser)
        let expected = parsedAlone(second)
        let actual = parseNext(second, on: &parser)
        switch (expected, actual) {
        case (.success(let a), .success(let b)):
            #expect(a == b, sourceLocation: sourceLocation)
        case (.failure(let a), .failure(let b)):
            #expect(a.status == b.status, sourceLocation: sourceLocation)
        default:
            Issue.record("\(second.debugDescription): alone \(expected), after another \(actual)", sourceLocation: sourceLocation)
        }
    }

    private let base = "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUser-Agent: probe/1\r\n\r\n"

    @Test func anIdenticalHeadDecodesTheSame() {
        expectSameAsAlone(after: base, base)
    }

    @Test func aDifferentTargetOrMethodDecodesTheSame() {
        expectSameAsAlone(after: base, "GET /ready HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUser-Agent: probe/1\r\n\r\n")
        expectSameAsAlone(after: base, "HEAD /health HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUser-Agent: probe/1\r\n\r\n")
        expectSameAsAlone(after: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "GET * HTTP/1.1\r\nHost: a\r\n\r\n")
    }

    @Test func fieldsThatDifferSomewhereDecodeTheSame() {
        let variants = [
            "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept: text/plain\r\nUser-Agent: probe/1\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUser-Agent: probe/1\r\nX-Extra: 1\r\n\r\n",
            "GET /health HTTP/1.1\r\nhost: a.example\r\nAccept: */*\r\nUser-Agent: probe/1\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost:a.example  \r\nAccept:\t*/*\r\nUser-Agent: probe/1\r\n\r\n",
            "GET /health HTTP/1.1\r\nAccept: */*\r\nHost: a.example\r\nUser-Agent: probe/1\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
            "GET /health HTTP/1.0\r\n\r\n",
        ]
        for variant in variants { expectSameAsAlone(after: base, variant) }
    }

    @Test func invalidHeadsAfterAValidOneAreStillRefused() {
        let invalid = [
            "GET /health HTTP/1.1\r\nHost : a.example\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\n Accept: */*\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept: */*\u{7F}\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: a.example\r\nAccept */*\r\n\r\n",
            "GET /hea\u{7F}lth HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET /health HTTP/1.1\r\n\r\n",
        ]
        for request in invalid { expectSameAsAlone(after: base, request) }
    }
}
