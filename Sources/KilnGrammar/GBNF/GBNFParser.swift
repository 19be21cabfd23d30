/// A parser for llama.cpp's GBNF: `name ::= alternatives` rules separated by newlines, `|`,
/// groups, literals with `\x`, `\u`, `\U`, `\t`, `\r`, `\n` and `\\` escapes, character classes with
/// ranges and `^` negation, `.`, the postfix operators `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}`, and `#`
/// comments. As in llama.cpp, a newline ends a rule except inside parentheses or after `|`.
/// Token references (`<[id]>`, `<name>`) are not supported: a grammar here is over bytes.
public struct GBNFParser {
    private let bytes: [UInt8]
    private var position = 0
    private let limits: GrammarLimits
    private var depth = 0

    /// Parses `text`; errors carry the line and column of the problem.
    public static func parse(_ text: String, limits: GrammarLimits = GrammarLimits()) throws(GrammarError) -> GBNFSyntax {
        var parser = GBNFParser(bytes: Array(text.utf8), limits: limits)
        return try parser.parseGrammar()
    }

    private init(bytes: [UInt8], limits: GrammarLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    private var current: UInt8 { position < bytes.count ? bytes[position] : 0 }
    private func peek(_ offset: Int) -> UInt8 { position + offset < bytes.count ? bytes[position + offset] : 0 }
    private var atEnd: Bool { position >= bytes.count }

    private func error(_ message: String, at offset: Int? = nil) -> GrammarError {
        let (line, column) = Self.lineAndColumn(of: offset ?? position, in: bytes)
        return .syntax(message: message, line: line, column: column)
    }

    /// The 1-based line and column (in characters) of a byte offset.
    static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var column = 1
        for byte in bytes[0..<min(offset, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func skipSpace(newlines: Bool) {
        while !atEnd {
            let byte = current
            if byte == 0x20 || byte == 0x09 || (newlines && (byte == 0x0A || byte == 0x0D)) {
                position += 1
            } else if byte == UInt8(ascii: "#") {
                while !atEnd && current != 0x0A && current != 0x0D { position += 1 }
            } else {
                return
            }
        }
    }

    private mutating func parseGrammar() throws(GrammarError) -> GBNFSyntax {
        if bytes.count > limits.maxGrammarBytes {
            throw .limitExceeded(message: "grammar of \(bytes.count) bytes is over the limit of \(limits.maxGrammarBytes)", pointer: nil)
        }
        var rules: [GBNFSyntax.Rule] = []
        skipSpace(newlines: true)
        while !atEnd {
            rules.append(try parseRule())
            if rules.count > limits.maxRules {
                throw .limitExceeded(message: "more than \(limits.maxRules) rules", pointer: nil)
            }
        }
        return GBNFSyntax(rules: rules)
    }

    private mutating func parseName() throws(GrammarError) -> String {
        let start = position
        while !atEnd && Self.isWordByte(current) { position += 1 }
        if position == start { throw error("expecting a name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseRule() throws(GrammarError) -> GBNFSyntax.Rule {
        let start = position
        let name = try parseName()
        skipSpace(newlines: false)
        guard current == UInt8(ascii: ":"), peek(1) == UInt8(ascii: ":"), peek(2) == UInt8(ascii: "=") else {
            throw error("expecting '::='")
        }
        position += 3
        skipSpace(newlines: true)
        let alternatives = try parseAlternatives(nested: false)
        if current == 0x0D {
            position += peek(1) == 0x0A ? 2 : 1
        } else if current == 0x0A {
            position += 1
        } else if !atEnd {
            throw error("expecting newline or end")
        }
        skipSpace(newlines: true)
        let (line, column) = Self.lineAndColumn(of: start, in: bytes)
        return GBNFSyntax.Rule(name: name, alternatives: alternatives, line: line, column: column)
    }

    private mutating func parseAlternatives(nested: Bool) throws(GrammarError) -> [[GBNFSyntax.Term]] {
        var alternatives = [try parseSequence(nested: nested)]
        while current == UInt8(ascii: "|") {
            position += 1
            skipSpace(newlines: true)
            alternatives.append(try parseSequence(nested: nested))
        }
        return alternatives
    }

    private mutating func parseSequence(nested: Bool) throws(GrammarError) -> [GBNFSyntax.Term] {
        var terms: [GBNFSyntax.Term] = []
        while !atEnd {
            let byte = current
            if byte == UInt8(ascii: "\"") {
                position += 1
                var codePoints: [UInt32] = []
                while current != UInt8(ascii: "\"") {
                    if atEnd { throw error("unexpected end of input in a literal") }
                    codePoints.append(try parseCharacter())
                }
                position += 1
                terms.append(.literal(codePoints))
            } else if byte == UInt8(ascii: "[") {
                position += 1
                var negated = false
                if current == UInt8(ascii: "^") {
                    negated = true
                    position += 1
                }
                var ranges: [GBNFSyntax.CodePointRange] = []
                while current != UInt8(ascii: "]") {
                    if atEnd { throw error("unexpected end of input in a character class") }
                    let lower = try parseCharacter()
                    var upper = lower
                    if current == UInt8(ascii: "-") && peek(1) != UInt8(ascii: "]") && position + 1 < bytes.count {
                        position += 1
                        let rangeStart = position
                        upper = try parseCharacter()
                        if upper < lower { throw error("character range is out of order", at: rangeStart) }
                    }
                    ranges.append(.init(lower, upper))
                }
                position += 1
                terms.append(.characterClass(ranges: ranges, negated: negated))
            } else if Self.isWordByte(byte) {
                let (line, column) = Self.lineAndColumn(of: position, in: bytes)
                let name = try parseName()
                terms.append(.rule(name: name, line: line, column: column))
            } else if byte == UInt8(ascii: "(") {
                position += 1
                depth += 1
                if depth > limits.maxDepth { throw .limitExceeded(message: "groups nested deeper than \(limits.maxDepth)", pointer: nil) }
                skipSpace(newlines: true)
                let group = try parseAlternatives(nested: true)
                if current != UInt8(ascii: ")") { throw error("expecting ')'") }
                depth -= 1
                position += 1
                terms.append(.group(group))
            } else if byte == UInt8(ascii: ".") {
                position += 1
                terms.append(.characterClass(ranges: [], negated: true))
            } else if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "?") {
                guard let last = terms.popLast() else { throw error("expecting preceding item to '\(Character(UnicodeScalar(byte)))'") }
                position += 1
                let (low, high): (Int, Int?) = byte == UInt8(ascii: "*") ? (0, nil) : byte == UInt8(ascii: "+") ? (1, nil) : (0, 1)
                terms.append(.repeated(last, min: low, max: high))
            } else if byte == UInt8(ascii: "{") {
                guard let last = terms.popLast() else { throw error("expecting preceding item to '{'") }
                position += 1
                skipSpace(newlines: nested)
                let low = try parseCount()
                skipSpace(newlines: nested)
                var high: Int? = low
                if current == UInt8(ascii: ",") {
                    position += 1
                    skipSpace(newlines: nested)
                    high = Self.isDigit(current) ? try parseCount() : nil
                    skipSpace(newlines: nested)
                }
                if current != UInt8(ascii: "}") { throw error("expecting '}'") }
                position += 1
                if let high, high < low { throw error("repetition maximum \(high) is below its minimum \(low)") }
                terms.append(.repeated(last, min: low, max: high))
            } else if byte == UInt8(ascii: "<") || byte == UInt8(ascii: "!") {
                throw error("token references are not supported")
            } else {
                break
            }
            skipSpace(newlines: nested)
        }
        return terms
    }

    private mutating func parseCount() throws(GrammarError) -> Int {
        let start = position
        var value = 0
        while Self.isDigit(current) {
            value = value * 10 + Int(current - 0x30)
            if value > limits.maxRepetition {
                throw .limitExceeded(message: "repetition count over the limit of \(limits.maxRepetition)", pointer: nil)
            }
            position += 1
        }
        if position == start { throw error("expecting an integer") }
        return value
    }

    /// One character of a literal or class: an escape, or one UTF-8 encoded code point.
    private mutating func parseCharacter() throws(GrammarError) -> UInt32 {
        let start = position
        if current == UInt8(ascii: "\\") {
            let kind = peek(1)
            position += 2
            switch kind {
            case UInt8(ascii: "x"): return try parseHex(digits: 2, from: start)
            case UInt8(ascii: "u"): return try parseHex(digits: 4, from: start)
            case UInt8(ascii: "U"): return try parseHex(digits: 8, from: start)
            case UInt8(ascii: "t"): return 0x09
            case UInt8(ascii: "r"): return 0x0D
            case UInt8(ascii: "n"): return 0x0A
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "-"):
                return UInt32(kind)
            default: throw error("unknown escape", at: start)
            }
        }
        let lead = current
        let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
        guard length > 0, position + length <= bytes.count else { throw error("invalid UTF-8") }
        var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> (length + 1))
        for index in 1..<length {
            let next = bytes[position + index]
            guard next & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
            value = value << 6 | UInt32(next & 0x3F)
        }
        position += length
        return value
    }

    private mutating func parseHex(digits: Int, from start: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            let byte = current
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            default: throw error("expecting \(digits) hex digits", at: start)
            }
            value = value << 4 | digit
            position += 1
        }
        if value > 0x10FFFF { throw error("code point out of range", at: start) }
        return value
    }
}
