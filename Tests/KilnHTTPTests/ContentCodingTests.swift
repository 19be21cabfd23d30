import KilnHTTP
import Testing

/// `Accept-Encoding` negotiation per RFC 9110 §12.5.3, and request `Content-Encoding` parsing.
@Suite struct ContentCodingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let header: String?
        let expected: ContentCoding?
        var testDescription: String { "\(header.map { "\"\($0)\"" } ?? "no header") → \(expected.map { "\($0)" } ?? "nil")" }
    }

    static let cases: [Case] = [
        // No header: the RFC allows anything, but we do not compress for clients that did not ask.
        Case(header: nil, expected: .identity),
        // An empty value means "no coding, please".
        Case(header: "", expected: .identity),
        Case(header: "gzip", expected: .gzip),
        Case(header: "GZip", expected: .gzip),
        Case(header: "x-gzip", expected: .gzip),
        Case(header: "gzip, deflate, br, zstd", expected: .gzip),
        Case(header: "br, deflate", expected: .identity),
        Case(header: "identity", expected: .identity),
        Case(header: "gzip;q=0", expected: .identity),
        Case(header: "gzip;Q=0", expected: .identity),
        Case(header: "gzip;q=0.000", expected: .identity),
        Case(header: "gzip;q=0.001", expected: .gzip),
        Case(header: "gzip;q=1.000", expected: .gzip),
        // identity excluded and gzip never offered: nothing is acceptable.
        Case(header: "identity;q=0", expected: nil),
        Case(header: "gzip;q=0, identity;q=0", expected: nil),
        Case(header: "identity;q=0, gzip;q=0.5", expected: .gzip),
        // `*` speaks for every coding not listed, identity included.
        Case(header: "*", expected: .gzip),
        Case(header: "*;q=0", expected: nil),
        Case(header: "*;q=0, identity", expected: .identity),
        Case(header: "*;q=0, gzip", expected: .gzip),
        Case(header: "*, gzip;q=0", expected: .identity),
        Case(header: "identity;q=1, *;q=0", expected: .identity),
        Case(header: "deflate;q=0.5, *;q=0.1", expected: .gzip),
        // Weights decide; on a tie the server prefers to compress.
        Case(header: "gzip;q=0.5, identity;q=0.8", expected: .identity),
        Case(header: "gzip;q=0.8, identity;q=0.8", expected: .gzip),
        Case(header: "gzip;q=0.9, identity;q=0.8", expected: .gzip),
        Case(header: " gzip ; q=0.3 ,\tidentity;q=0.2 ", expected: .gzip),
        Case(header: ",, ,gzip,,", expected: .gzip),
        // Parameters other than q are ignored.
        Case(header: "gzip;level=9", expected: .gzip),
        // Malformed elements are ignored as if absent.
        Case(header: "gzip;q=1.5", expected: .identity),
        Case(header: "gzip;q=1.001", expected: .identity),
        Case(header: "gzip;q=0.0001", expected: .identity),
        Case(header: "gzip;q=", expected: .identity),
        Case(header: "gzip;q=-1", expected: .identity),
        Case(header: "gzip;q=abc", expected: .identity),
        Case(header: "g zip", expected: .identity),
        Case(header: "gzip;q=abc, identity;q=0", expected: nil),
        // The first entry for a coding counts.
        Case(header: "gzip;q=0, gzip", expected: .identity),
    ]

    @Test(arguments: cases)
    func negotiate(_ testCase: Case) {
        #expect(ContentCoding.negotiate(acceptEncoding: testCase.header) == testCase.expected)
    }

    @Test func requestContentEncoding() {
        #expect(ContentCoding(contentEncoding: "gzip") == .gzip)
        #expect(ContentCoding(contentEncoding: " GZIP ") == .gzip)
        #expect(ContentCoding(contentEncoding: "x-gzip") == .gzip)
        #expect(ContentCoding(contentEncoding: "identity") == .identity)
        #expect(ContentCoding(contentEncoding: "") == .identity)
        #expect(ContentCoding(contentEncoding: "br") == nil)
        #expect(ContentCoding(contentEncoding: "deflate") == nil)
        #expect(ContentCoding(contentEncoding: "gzip, gzip") == nil)
    }

    @Test func headerValues() {
        #expect(ContentCoding.gzip.contentEncodingHeaderValue == "gzip")
        #expect(ContentCoding.identity.contentEncodingHeaderValue == nil)
    }
}
