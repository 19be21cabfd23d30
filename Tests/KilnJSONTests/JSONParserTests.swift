import Foundation
import KilnJSON
import Testing

@Suite struct JSONParserTests {
    let parser = JSONParser()

    @Test func parsesEveryKind() throws {
        let value = try parser.parse(#" {"a": [1, -2.5, 3e2, true, false, null, "x\u00e9\n\ud83d\ude00"], "b": {}} "#)
        #expect(value == ["a": [1, -2.5, 300.0, true, false, .null, "xé\n😀"], "b": .object([])])
    }

    @Test func integersStayIntegers() throws {
        #expect(try parser.parse("42") == .int(42))
        #expect(try parser.parse("42.0") == .double(42))
        #expect(try parser.parse("-0") == .int(0))
        // Beyond Int: kept as a double rather than refused.
        #expect(try parser.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity", "-",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00\"", "{'a':1}", "[1 2]",
        "tru", "nul", "{\"a\" 1}", "1e999", "\"tab\there\"", "[] []", "/* comment */ 1",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parser.parse(ok)
    }

    /// What we write, Foundation's independent parser reads back to the same values.
    @Test func serializationRoundTripsThroughFoundation() throws {
        let value: JSONValue = [
            "s": "quote \" backslash \\ newline \n control \u{01} emoji 😀 \u{2028}",
            "n": 1.5, "i": -7, "t": true, "z": .null, "a": [1, "two"], "d": 1e-7,
        ]
        let data = Data(value.serialized.utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["s"] as? String == "quote \" backslash \\ newline \n control \u{01} emoji 😀 \u{2028}")
        #expect(object["n"] as? Double == 1.5)
        #expect(object["i"] as? Int == -7)
        #expect(object["d"] as? Double == 1e-7)
        #expect(try parser.parse(value.serialized) == value)
    }
}

/// Python's `json.loads` dialect, which chat templates' JSON input follows.
@Suite struct PythonDialectTests {
    let parser = JSONParser(dialect: .python)

    @Test func acceptsPythonsSpecialFloats() throws {
        guard case .array(let items) = try parser.parse("[NaN, Infinity, -Infinity, 1e999, -1]") else {
            Issue.record("expected an array")
            return
        }
        guard case .double(let nan) = items[0] else {
            Issue.record("NaN is not a double")
            return
        }
        #expect(nan.isNaN)
        #expect(Array(items[1...]) == [.double(.infinity), .double(-.infinity), .double(.infinity), .int(-1)])
    }

    @Test func replacesLoneSurrogates() throws {
        #expect(try parser.parse(#""a\ud800b""#) == "a\u{FFFD}b")
        #expect(try parser.parse(#""\udc00""#) == "\u{FFFD}")
        #expect(try parser.parse(#""\ud800\u0041""#) == "\u{FFFD}A")
        #expect(try parser.parse(#""\ud83d\ude00""#) == "😀")
    }

    @Test(arguments: ["Nan", "-Inf", "[1,]", "01", "{\"a\" 1}", "\"\\x\""])
    func stillRejectsWhatPythonRejects(_ text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test func tellsADepthLimitFromASyntaxError() throws {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let error = #expect(throws: JSONParseError.self) { try JSONParser(maxDepth: 10, dialect: .python).parse(deep) }
        #expect(error?.isNestingTooDeep == true)
        let syntax = #expect(throws: JSONParseError.self) { try parser.parse("[1,]") }
        #expect(syntax?.isNestingTooDeep == false)
    }
}

/// The one JSON string escaper: what it escapes, and that the parser reads back what it wrote.
@Suite struct JSONStringWritingTests {
    @Test func escapesWhatJSONRequiresAndTheJavaScriptLineSeparators() {
        #expect(JSONValue.quoted("plain") == #""plain""#)
        #expect(JSONValue.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONValue.quoted("\n\r\t\u{08}\u{0C}") == #""\n\r\t\b\f""#)
        #expect(JSONValue.quoted("\u{00}\u{01}\u{1F}") == #""\u0000\u0001\u001f""#)
        #expect(JSONValue.quoted("x\u{2028}y\u{2029}z") == #""x\u2028y\u2029z""#)
        // Other non-ASCII goes out raw, U+2026 (E2 80 A6) and DEL included.
        #expect(JSONValue.quoted("é … 🚀 \u{7F}") == "\"é … 🚀 \u{7F}\"")
    }

    @Test(arguments: ["", "\"", "\\\\\"", "tail\u{E2}", "ü\u{2028}", String(repeating: "ab\ncd\u{1}é", count: 100)])
    func theParserReadsBackWhatTheWriterWrote(_ text: String) throws {
        let written = JSONValue.array([.string(text), .object([(text, .string(text))])]).serialized
        #expect(try JSONParser().parse(written) == .array([.string(text), .object([(text, .string(text))])]))
    }
}
