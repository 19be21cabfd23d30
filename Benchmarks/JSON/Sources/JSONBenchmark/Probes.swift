import Foundation
import KilnJSON

#if canImport(Glibc)
    import Glibc
#endif

// MARK: Describing results

/// A string with every non-ASCII or control scalar written as \u{…}, so that replacements show.
func visible(_ s: String, limit: Int = 60) -> String {
    var out = ""
    for scalar in s.unicodeScalars {
        if scalar.value < 0x20 || scalar.value > 0x7E { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
    }
    return out.count > limit ? String(out.prefix(limit)) + "…" : out
}

func describeKiln(_ v: JSONValue) -> String {
    switch v {
    case .null: return "null"
    case .bool(let b): return "\(b)"
    case .int(let i): return "int \(i)"
    case .double(let d): return "double \(d)"
    case .string(let s): return "\"\(visible(s))\""
    case .array(let a): return "[" + a.map(describeKiln).joined(separator: ", ") + "]"
    case .object(let m): return "{" + m.map { "\(visible($0.0)): \(describeKiln($0.1))" }.joined(separator: ", ") + "}"
    }
}

func describeAny(_ v: Any) -> String {
    if v is NSNull { return "null" }
    if let s = v as? String { return "\"\(visible(s))\"" }
    if let n = v as? NSNumber {
        let type = String(cString: n.objCType)
        if type == "c" || type == "B" { return "NSNumber(\(type)) \(n.boolValue)" }
        if type == "d" || type == "f" { return "NSNumber(\(type)) \(n.doubleValue)" }
        if type == "Q" { return "NSNumber(Q) \(n.uint64Value)" }
        return "NSNumber(\(type)) \(n.int64Value)"
    }
    if let d = v as? Decimal { return "Decimal \(d)" }
    if let a = v as? [Any] { return "[" + a.map(describeAny).joined(separator: ", ") + "]" }
    if let d = v as? [String: Any] { return "{" + d.map { "\(visible($0.key)): \(describeAny($0.value))" }.joined(separator: ", ") + "}" }
    return "\(type(of: v)) \(v)"
}

/// Any JSON through Codable. Objects keep the order of the keyed container's `allKeys`, so that
/// this shows whether a custom Decodable could see the document's key order.
indirect enum AnyJSON: Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([AnyJSON])
    case object([(String, AnyJSON)])
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    init(from decoder: Decoder) throws {
        if let c = try? decoder.container(keyedBy: Key.self) {
            self = .object(try c.allKeys.map { ($0.stringValue, try c.decode(AnyJSON.self, forKey: $0)) })
        } else if var c = try? decoder.unkeyedContainer() {
            var items: [AnyJSON] = []
            while !c.isAtEnd { items.append(try c.decode(AnyJSON.self)) }
            self = .array(items)
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? c.decode(Int.self) {
                self = .int(i)
            } else if let u = try? c.decode(UInt64.self) {
                self = .uint(u)
            } else if let d = try? c.decode(Double.self) {
                self = .double(d)
            } else {
                self = .string(try c.decode(String.self))
            }
        }
    }
    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "Int \(i)"
        case .uint(let u): return "UInt64 \(u)"
        case .double(let d): return "Double \(d)"
        case .string(let s): return "\"\(visible(s))\""
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let m): return "{" + m.map { "\(visible($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }
    }
}

func foundationError(_ error: Error) -> String {
    if let e = error as? DecodingError {
        switch e {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c):
            var text = c.debugDescription
            if let u = c.underlyingError { text += " / " + foundationError(u) }
            return text
        @unknown default: return "\(e)"
        }
    }
    let ns = error as NSError
    if let debug = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return "\(ns.domain) \(ns.code): \(debug)" }
    return "\(ns.domain) \(ns.code): \(ns.localizedDescription)"
}

func outcome(_ body: () throws -> String) -> String {
    do { return "ok " + (try body()) } catch let e as JSONParseError { return "REJECT \(e)" } catch { return "REJECT \(foundationError(error))" }
}

// MARK: Probes

struct N: Decodable { var n: Int }
struct NDouble: Decodable { var n: Double }
struct NUInt64: Decodable { var n: UInt64 }
struct NDecimal: Decodable { var n: Decimal }
struct A: Decodable { var a: Int }

/// One input through every reader. `extra` adds rows for typed decoding where the generic one hides the point.
func probe(
    _ title: String, _ bytes: [UInt8], fragments: Bool = false, json5: Bool = false,
    extra: [(String, (Data) throws -> String)] = []
) {
    let data = Data(bytes)
    let shown =
        bytes.count <= 70
        ? visible(String(decoding: bytes, as: UTF8.self), limit: 90)
            + (String(validating: bytes, as: UTF8.self) == nil
                ? "  (bytes: " + bytes.map { String(format: "%02x", $0) }.joined(separator: " ") + ")" : "")
        : "\(bytes.count) bytes"
    print("\n### \(title)\ninput: \(shown)")
    print("  KilnJSON strict             : " + outcome { describeKiln(try JSONParser().parse(bytes)) })
    print("  KilnJSON python dialect     : " + outcome { describeKiln(try JSONParser(dialect: .python).parse(bytes)) })
    print("  JSONSerialization []        : " + outcome { describeAny(try JSONSerialization.jsonObject(with: data)) })
    if fragments {
        print("  JSONSerialization fragments : " + outcome { describeAny(try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)) })
    }
    print("  JSONDecoder AnyJSON         : " + outcome { try JSONDecoder().decode(AnyJSON.self, from: data).description })
    if json5 {
        print(
            "  JSONDecoder allowsJSON5     : "
                + outcome {
                    let d = JSONDecoder()
                    d.allowsJSON5 = true
                    return try d.decode(AnyJSON.self, from: data).description
                })
    }
    for (name, body) in extra {
        print("  " + name.padding(toLength: 28, withPad: " ", startingAt: 0) + ": " + outcome { try body(data) })
    }
}

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

func runProbes() {
    print("\n# Semantics and limits probes")
    print("(KilnJSON python dialect is what chat templates use; request bodies use strict, maxDepth 64.)")

    probe(
        "duplicate keys", b(#"{"a":1,"a":2}"#),
        extra: [
            ("KilnJSON value[\"a\"]", { _ in describeKiln(try JSONParser().parse(b(#"{"a":1,"a":2}"#))["a"]!) }),
            ("JSONDecoder struct {a: Int}", { try "a = \(JSONDecoder().decode(A.self, from: $0).a)" }),
        ])
    let order = #"{"model":"m","messages":[],"temperature":1,"stream":false,"z":0,"a":0}"#
    probe(
        "key order (read)", b(order),
        extra: [
            ("JSONDecoder [String: AnyJSON]", { try JSONDecoder().decode([String: AnyJSON].self, from: $0).keys.joined(separator: ",") })
        ])
    // Key order when writing: the same members in a fixed order.
    let kiln: JSONValue = ["id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [], "usage": .null]
    let dict: [String: Any] = ["id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [Any](), "usage": NSNull()]
    struct Ordered: Encodable {
        var id = "x", object = "chat.completion", created = 1, model = "m", choices = [Int]()
        var usage: Int? = nil
        enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(created, forKey: .created)
            try c.encode(model, forKey: .model)
            try c.encode(choices, forKey: .choices)
            try c.encodeNil(forKey: .usage)
        }
    }
    print("\n### key order (write) and slash escaping: members id, object, created, model, choices, usage; string \"a/b\"")
    print("  KilnJSON serialized         : " + kiln.serialized + "  " + JSONValue.string("a/b").serialized)
    print(
        "  JSONSerialization []        : " + String(decoding: try! JSONSerialization.data(withJSONObject: dict), as: UTF8.self)
            + "  " + String(decoding: try! JSONSerialization.data(withJSONObject: ["a/b"]), as: UTF8.self))
    print(
        "  JSONSerialization sortedKeys: " + String(decoding: try! JSONSerialization.data(withJSONObject: dict, options: .sortedKeys), as: UTF8.self))
    print(
        "  JSONEncoder (declared order): " + String(decoding: try! JSONEncoder().encode(Ordered()), as: UTF8.self)
            + "  " + String(decoding: try! JSONEncoder().encode(["a/b"]), as: UTF8.self))

    let typed: [(String, (Data) throws -> String)] = [
        ("JSONDecoder {n: Int}", { try "n = \(JSONDecoder().decode(N.self, from: $0).n)" }),
        ("JSONDecoder {n: Double}", { try "n = \(JSONDecoder().decode(NDouble.self, from: $0).n)" }),
    ]
    let serializationN: (String, (Data) throws -> String) = (
        "JSONSerialization n as? Int",
        { data in
            let n = (try JSONSerialization.jsonObject(with: data) as! [String: Any])["n"]!
            return "as? Int = \(String(describing: n as? Int)), as? Double = \(String(describing: n as? Double))"
        }
    )
    probe("integer 2", b(#"{"n":2}"#), extra: typed + [serializationN])
    probe("2.0 (float syntax, integral value)", b(#"{"n":2.0}"#), extra: typed + [serializationN])
    probe("2.5", b(#"{"n":2.5}"#), extra: typed + [serializationN])
    probe("2e0 (exponent, integral value)", b(#"{"n":2e0}"#), extra: typed + [serializationN])
    let wide: [(String, (Data) throws -> String)] =
        typed + [
            ("JSONDecoder {n: UInt64}", { try "n = \(JSONDecoder().decode(NUInt64.self, from: $0).n)" }),
            ("JSONDecoder {n: Decimal}", { try "n = \(JSONDecoder().decode(NDecimal.self, from: $0).n)" }),
        ]
    probe("2^53 + 1 (not exact in a Double)", b(#"{"n":9007199254740993}"#), extra: wide)
    probe("Int64.max", b(#"{"n":9223372036854775807}"#), extra: wide)
    probe("2^63 (beyond Int64, fits UInt64)", b(#"{"n":9223372036854775808}"#), extra: wide)
    probe("2^64 (beyond UInt64)", b(#"{"n":18446744073709551616}"#), extra: wide)
    probe("30-digit integer", b(#"{"n":123456789012345678901234567890}"#), extra: wide)
    probe("-0", b(#"[-0]"#))
    probe("1e400 (beyond Double)", b(#"[1e400]"#))
    probe("1e-400 (underflow)", b(#"[1e-400]"#))
    probe("NaN literal", b(#"[NaN]"#), json5: true)
    probe("Infinity literal", b(#"[Infinity]"#), json5: true)
    probe("-Infinity literal", b(#"[-Infinity]"#), json5: true)
    probe("leading zero", b(#"[01]"#))
    probe("leading plus / bare dot", b(#"[+1,.5,1.]"#), json5: true)

    probe("surrogate pair escape (valid)", b(#"["\ud83d\ude00"]"#))
    probe("lone high surrogate escape", b(#"["\ud800"]"#))
    probe("lone low surrogate escape", b(#"["\udc00x"]"#))
    probe("high surrogate followed by non-surrogate escape", b(#"["\ud800\u0041"]"#))
    probe("invalid UTF-8 byte 0xFF in string", b("[\"a") + [0xFF] + b("b\"]"))
    probe("truncated UTF-8 sequence (0xE6 0x97) in string", b("[\"a") + [0xE6, 0x97] + b("\"]"))
    probe("overlong UTF-8 (0xC0 0xAF) in string", b("[\"a") + [0xC0, 0xAF] + b("\"]"))
    probe("UTF-8-encoded surrogate (0xED 0xA0 0x80) in string", b("[\"a") + [0xED, 0xA0, 0x80] + b("\"]"))
    probe("invalid UTF-8 byte outside strings", b("[1,") + [0xFF] + b("]"))
    probe("UTF-8 BOM before value", [0xEF, 0xBB, 0xBF] + b("[1]"))
    probe("UTF-16LE body with BOM", [0xFF, 0xFE] + Array("[\"hi\"]".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
    probe("UTF-16LE body without BOM", Array("{\"a\":1}".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))

    probe("trailing comma in array", b(#"[1,2,]"#), json5: true)
    probe("trailing comma in object", b(#"{"a":1,}"#), json5: true)
    probe("block comment", b("[1 /* c */]"), json5: true)
    probe("line comment", b("// c\n[1]"), json5: true)
    probe("single-quoted string / unquoted key", b("{a:'x'}"), json5: true)

    probe("raw control character U+0001 in string", b("[\"a") + [0x01] + b("b\"]"))
    probe("raw tab in string", b("[\"a\tb\"]"))
    probe("raw newline in string", b("[\"a\nb\"]"))
    probe("NUL byte in string", b("[\"a") + [0x00] + b("b\"]"))
    probe("escaped NUL \\u0000", b(#"["a\u0000b"]"#))
    probe("invalid escape \\x", b(#"["\x41"]"#))

    probe("top-level number", b("42"), fragments: true)
    probe("top-level string", b(#""hi""#), fragments: true)
    probe("top-level null", b("null"), fragments: true)
    probe("empty input", [], fragments: true)
    probe("whitespace only", b(" \n "), fragments: true)
    probe("trailing data after value", b("{} x"))
    probe("two values", b("{}{}"))
    probe("form feed as whitespace", b("[1,\u{0C}2]"))

    // Error positions: a syntax error 73 bytes into the second line of a request body.
    let broken = "{\"model\": \"smollm2\",\n \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, }], \"stream\": true}"
    let rawDecoderError: (String, (Data) throws -> String) = (
        "JSONDecoder error, in full",
        { data in
            do {
                _ = try JSONDecoder().decode(ChatRequest.self, from: data)
                return "decoded"
            } catch { return "\(error)" }
        }
    )
    probe("error position (stray '}' at byte \(broken.utf8.count - 19), line 2)", b(broken), extra: [rawDecoderError])
    let brokenUnicode = "{\"content\": \"日本語 😀 naïve\" x}"
    probe(
        "error position after non-ASCII (stray 'x' at byte \(brokenUnicode.utf8.count - 2), character \(brokenUnicode.count - 2))",
        b(brokenUnicode), extra: [rawDecoderError])
    let wrongType = #"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#
    probe("type error (content is a number)", b(wrongType), extra: [rawDecoderError])
}

// MARK: Nesting depth, each attempt in a child process (a stack overflow kills only the child)

let depthReaders = ["kiln-default", "kiln-unlimited", "serialization", "decoder-skip", "decoder-anyjson"]

struct Skip: Decodable { init(from decoder: Decoder) throws {} }

/// In the child: parse `depth` nested arrays (or objects) and print the outcome.
func depthChild(reader: String, depth: Int, objects: Bool) -> Never {
    var limit = rlimit(rlim_cur: 0, rlim_max: 0)
    setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)  // no core files from the crashes this provokes
    var bytes: [UInt8] = []
    bytes.reserveCapacity(depth * 6)
    for _ in 0..<depth { bytes += objects ? b(#"{"a":"#) : [UInt8(ascii: "[")] }
    bytes += objects ? b("1") : []
    for _ in 0..<depth { bytes.append(objects ? UInt8(ascii: "}") : UInt8(ascii: "]")) }
    let data = Data(bytes)
    let result = outcome {
        switch reader {
        case "kiln-default": _ = try JSONParser().parse(bytes)
        case "kiln-unlimited": _ = try JSONParser(maxDepth: Int.max).parse(bytes)
        case "serialization": _ = try JSONSerialization.jsonObject(with: data)
        case "decoder-skip": _ = try JSONDecoder().decode(Skip.self, from: data)
        default: _ = try JSONDecoder().decode(AnyJSON.self, from: data)
        }
        return "accepted"
    }
    print(result)
    exit(0)
}

enum ChildResult {
    case accepted
    case rejected(String)
    case crashed(String)
}

func runChild(_ reader: String, _ depth: Int, objects: Bool = false) -> ChildResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    p.environment = ["SWIFT_BACKTRACE": "enable=no"]
    p.arguments = ["--depth-child", reader, String(depth), objects ? "objects" : "arrays"]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try! p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationReason == .uncaughtSignal {
        let firstLine = errText.split(separator: "\n").first.map(String.init) ?? ""
        return .crashed("CRASH signal \(p.terminationStatus)" + (firstLine.isEmpty ? "" : " (\(firstLine.prefix(80)))"))
    }
    let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return line == "ok accepted" ? .accepted : .rejected(line.isEmpty ? "exit \(p.terminationStatus): \(errText.prefix(80))" : line)
}

func describe(_ r: ChildResult) -> String {
    switch r {
    case .accepted: return "accepted"
    case .rejected(let s): return s.count > 110 ? String(s.prefix(110)) + "…" : s
    case .crashed(let s): return s
    }
}

func runDepthProbes() {
    print("\n# Nesting depth (each attempt in a child process, main thread, stack limit \(stackLimit()))")
    for depth in [64, 65, 512, 513, 10_000, 100_000, 1_000_000] {
        print("\n### \(depth) nested arrays")
        for r in depthReaders { print("  " + r.padding(toLength: 16, withPad: " ", startingAt: 0) + ": " + describe(runChild(r, depth))) }
    }
    print("\n### 100000 nested objects {\"a\":…}")
    for r in depthReaders {
        print("  " + r.padding(toLength: 16, withPad: " ", startingAt: 0) + ": " + describe(runChild(r, 100_000, objects: true)))
    }

    print("\n### deepest accepted array nesting (bisection over 1…2000000)")
    for r in depthReaders {
        var lo = 1, hi = 2_000_000  // lo accepted, hi not
        if case .accepted = runChild(r, hi) {
            print("  \(r): accepts 2000000")
            continue
        }
        var firstFailure = describe(runChild(r, hi))
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            let result = runChild(r, mid)
            if case .accepted = result {
                lo = mid
            } else {
                hi = mid
                firstFailure = describe(result)
            }
        }
        print("  " + r.padding(toLength: 16, withPad: " ", startingAt: 0) + ": deepest accepted \(lo); at \(hi): \(firstFailure)")
    }
}

func stackLimit() -> String {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_STACK.rawValue), &limit)
    return limit.rlim_cur == rlim_t.max ? "unlimited" : "\(limit.rlim_cur / 1024) KiB"
}
