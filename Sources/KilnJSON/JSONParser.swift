/// Why a request body is not acceptable JSON, with the byte offset where reading stopped.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    /// Whether the document nests deeper than the parser's `maxDepth` (a limit, not a syntax error).
    public let isNestingTooDeep: Bool
    public var description: String { "\(message) at byte \(offset)" }

    public init(message: String, offset: Int, isNestingTooDeep: Bool = false) {
        self.message = message
        self.offset = offset
        self.isNestingTooDeep = isNestingTooDeep
    }
}

/// A strict RFC 8259 parser for untrusted request bodies: no comments, no trailing commas, no NaN,
/// valid UTF-8 only, and a nesting limit so that a deep document cannot exhaust the stack.
public struct JSONParser {
    /// Which JSON the parser accepts.
    public enum Dialect: Sendable {
        /// RFC 8259 and nothing more: what clients send.
        case strict
        /// Python's `json.loads`, which chat templates are written against: also `NaN`,
        /// `Infinity` and `-Infinity`, numbers beyond a double's range as infinities, and lone
        /// UTF-16 surrogates in `\u` escapes (replaced by U+FFFD: a Swift string cannot hold them).
        case python
    }

    public var maxDepth: Int
    public var dialect: Dialect

    public init(maxDepth: Int = 64, dialect: Dialect = .strict) {
        self.maxDepth = maxDepth
        self.dialect = dialect
    }

    public func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer, maxDepth: maxDepth, isPython: dialect == .python)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.position == buffer.count else { throw reader.error("unexpected data after the JSON value") }
            return value
        }
    }

    public func parse(_ text: String) throws -> JSONValue { try parse(Array(text.utf8)) }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        let isPython: Bool
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, isPython: Bool) {
            self.bytes = bytes
            self.maxDepth = maxDepth
            self.isPython = isPython
        }

        func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: position) }

        func tooDeep() -> JSONParseError {
            JSONParseError(message: "nesting deeper than \(maxDepth)", offset: position, isNestingTooDeep: true)
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count,
                memcmp(bytes.baseAddress! + position, literal.utf8Start, count) == 0
            else {
                throw error("invalid literal")
            }
            position += count
            return value
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard let byte = current else { throw error("unexpected end of input") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "N") where isPython: return try expect("NaN", .double(.nan))
            case UInt8(ascii: "I") where isPython: return try expect("Infinity", .double(.infinity))
            case UInt8(ascii: "-") where isPython && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "I"):
                position += 1
                return try expect("Infinity", .double(-.infinity))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            guard depth <= maxDepth else { throw tooDeep() }
            position += 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                position += 1
                skipWhitespace()
                members.append((key, try value(depth: depth)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            guard depth <= maxDepth else { throw tooDeep() }
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        mutating func number() throws -> JSONValue {
            let start = position
            var isInteger = true
            if current == UInt8(ascii: "-") { position += 1 }
            guard let first = current, first >= 0x30, first <= 0x39 else { throw error("invalid number") }
            if first == 0x30 {
                position += 1
            } else {
                while let d = current, d >= 0x30, d <= 0x39 { position += 1 }
            }
            if current == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard let d = current, d >= 0x30, d <= 0x39 else { throw error("invalid number") }
                while let d = current, d >= 0x30, d <= 0x39 { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard let d = current, d >= 0x30, d <= 0x39 else { throw error("invalid number") }
                while let d = current, d >= 0x30, d <= 0x39 { position += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            if isInteger, let integer = Int(text) { return .int(integer) }
            guard let double = Double(text), double.isFinite || isPython else { throw error("number out of range") }
            return .double(double)
        }

        mutating func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let digit: UInt8
                switch c {
                case 0x30...0x39: digit = c - 0x30
                case 0x41...0x46: digit = c - 0x41 + 10
                case 0x61...0x66: digit = c - 0x61 + 10
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            var utf8: [UInt8] = []
            while true {
                guard let byte = current else { throw error("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                    return text
                case UInt8(ascii: "\\"):
                    position += 1
                    guard let escape = current else { throw error("unterminated escape") }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""): utf8.append(0x22)
                    case UInt8(ascii: "\\"): utf8.append(0x5C)
                    case UInt8(ascii: "/"): utf8.append(0x2F)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar), current == UInt8(ascii: "\\"), position + 1 < bytes.count,
                            bytes[position + 1] == UInt8(ascii: "u")
                        {
                            let highEnd = position
                            position += 2
                            let low = try hex4()
                            if (0xDC00...0xDFFF).contains(low) {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else if isPython {
                                position = highEnd  // the high half stands alone; the next escape is read anew
                            } else {
                                throw error("invalid surrogate pair")
                            }
                        }
                        if (0xD800...0xDFFF).contains(scalar) {
                            guard isPython else { throw error("lone surrogate") }
                            scalar = 0xFFFD
                        }
                        utf8.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                    default: throw error("invalid escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("control character in string") }
                    utf8.append(byte)
                    position += 1
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
