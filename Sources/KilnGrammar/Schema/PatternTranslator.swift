/// Translates a JSON Schema `pattern` to GBNF over the JSON-encoded string content, so a pattern is
/// matched by the same pushdown automaton as everything else: no backtracking, and its size is
/// bounded by `GrammarLimits.maxRegexStates` (atoms counted after repetitions are expanded).
///
/// The subset: literals; `.` (any character but a line break); classes `[…]`/`[^…]` with ranges;
/// `\d \D \w \W \s \S`, `\n \r \t \f \v \0`, `\xHH`, `\uHHHH` and escaped punctuation; groups `(…)`
/// and `(?:…)`; `|`; `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` (a lazy `?` after them changes nothing
/// for a whole match); `^` first and `$` last. As JSON Schema says, a pattern not anchored at an end
/// matches anywhere, so any characters may come before or after it. Backreferences, lookaround,
/// `\b` and flags are refused with an error.
struct PatternTranslator {
    private let scalars: [UInt32]
    private var position = 0
    private let maxStates: Int
    private let pointer: String

    static func translate(_ pattern: String, maxStates: Int, pointer: String) throws(GrammarError) -> String {
        var translator = PatternTranslator(scalars: pattern.unicodeScalars.map(\.value), maxStates: maxStates, pointer: pointer)
        return try translator.translateWhole()
    }

    private init(scalars: [UInt32], maxStates: Int, pointer: String) {
        self.scalars = scalars
        self.maxStates = maxStates
        self.pointer = pointer
    }

    private func error(_ message: String) -> GrammarError {
        .invalidSchema(message: "pattern: \(message) at character \(position + 1)", pointer: pointer)
    }

    private var current: UInt32? { position < scalars.count ? scalars[position] : nil }

    private mutating func translateWhole() throws(GrammarError) -> String {
        var anchoredStart = false
        if current == 0x5E {
            anchoredStart = true
            position += 1
        }
        var (body, size) = try alternation()
        var anchoredEnd = false
        if current == 0x24 {
            anchoredEnd = true
            position += 1
        }
        if position != scalars.count { throw error(current == 0x29 ? "unbalanced ')'" : "unsupported syntax") }
        size += 2
        if size > maxStates { throw .limitExceeded(message: "pattern needs more than \(maxStates) states", pointer: pointer) }
        if !anchoredStart { body = "char* " + body }
        if !anchoredEnd { body += " char*" }
        return body
    }

    private mutating func alternation() throws(GrammarError) -> (String, Int) {
        var (expression, size) = try sequence()
        var alternatives = [expression]
        while current == 0x7C {
            position += 1
            let (next, nextSize) = try sequence()
            alternatives.append(next)
            size += nextSize
        }
        return (alternatives.count == 1 ? alternatives[0] : "(" + alternatives.map { "(\($0))" }.joined(separator: " | ") + ")", size)
    }

    private mutating func sequence() throws(GrammarError) -> (String, Int) {
        var parts: [String] = []
        var size = 0
        while let scalar = current, scalar != 0x7C, scalar != 0x29 {
            if scalar == 0x24 && position == scalars.count - 1 { break }
            var (atom, atomSize) = try self.atom()
            if let (low, high) = try quantifier() {
                let factor = max(high ?? (low + 1), 1)
                atomSize = atomSize * factor
                atom = "(\(atom))" + (high == nil ? (low == 0 ? "*" : low == 1 ? "+" : "{\(low),}") : "{\(low),\(high!)}")
            }
            size += atomSize
            if size > maxStates { throw .limitExceeded(message: "pattern needs more than \(maxStates) states", pointer: pointer) }
            parts.append(atom)
        }
        return (parts.isEmpty ? "\"\"" : parts.joined(separator: " "), size)
    }

    private mutating func quantifier() throws(GrammarError) -> (Int, Int?)? {
        guard let scalar = current else { return nil }
        var result: (Int, Int?)
        switch scalar {
        case 0x2A: result = (0, nil)
        case 0x2B: result = (1, nil)
        case 0x3F: result = (0, 1)
        case 0x7B:
            let start = position
            position += 1
            guard let low = number() else {
                position = start
                return nil
            }
            var high: Int? = low
            if current == 0x2C {
                position += 1
                high = number()
            }
            guard current == 0x7D else { throw error("malformed repetition") }
            if let high, high < low { throw error("repetition maximum below its minimum") }
            if low > maxStates || (high ?? 0) > maxStates {
                throw .limitExceeded(message: "pattern repetition over \(maxStates)", pointer: pointer)
            }
            result = (low, high)
        default: return nil
        }
        position += 1
        if current == 0x3F { position += 1 }  // lazy: the same set of whole matches
        if let next = current, next == 0x2A || next == 0x2B || next == 0x7B && number(peekingAfter: position) {
            throw error("nested quantifier")
        }
        return result
    }

    private func number(peekingAfter start: Int) -> Bool {
        start + 1 < scalars.count && scalars[start + 1] >= 0x30 && scalars[start + 1] <= 0x39
    }

    private mutating func number() -> Int? {
        var value = 0
        let start = position
        while let scalar = current, scalar >= 0x30, scalar <= 0x39, value < 1_000_000 {
            value = value * 10 + Int(scalar - 0x30)
            position += 1
        }
        return position == start ? nil : value
    }

    private mutating func atom() throws(GrammarError) -> (String, Int) {
        guard let scalar = current else { throw error("unexpected end") }
        switch scalar {
        case 0x28:
            position += 1
            if current == 0x3F {
                guard position + 1 < scalars.count, scalars[position + 1] == 0x3A else {
                    throw error("lookaround and named groups are not supported")
                }
                position += 2
            }
            let (inner, size) = try alternation()
            guard current == 0x29 else { throw error("missing ')'") }
            position += 1
            return ("(\(inner))", size)
        case 0x5B:
            position += 1
            return (JSONStringClass.expression(for: try characterClass()), 1)
        case 0x2E:
            position += 1
            return (JSONStringClass.expression(for: JSONStringClass.complement([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])), 1)
        case 0x5C:
            position += 1
            return (JSONStringClass.expression(for: try escape(inClass: false)), 1)
        case 0x2A, 0x2B, 0x3F, 0x7B: throw error("quantifier without a preceding item")
        case 0x5E, 0x24: throw error("anchors are supported only at the start and the end")
        default:
            position += 1
            return (JSONStringClass.expression(for: [(scalar, scalar)]), 1)
        }
    }

    private mutating func characterClass() throws(GrammarError) -> [(UInt32, UInt32)] {
        var negated = false
        if current == 0x5E {
            negated = true
            position += 1
        }
        var ranges: [(UInt32, UInt32)] = []
        var first = true
        while let scalar = current, scalar != 0x5D || first {
            first = false
            var lowSet: [(UInt32, UInt32)]
            if scalar == 0x5C {
                position += 1
                lowSet = try escape(inClass: true)
            } else {
                position += 1
                lowSet = [(scalar, scalar)]
            }
            if lowSet.count == 1, lowSet[0].0 == lowSet[0].1, current == 0x2D, position + 1 < scalars.count, scalars[position + 1] != 0x5D {
                position += 1
                var highScalar = current!
                position += 1
                if highScalar == 0x5C {
                    let escaped = try escape(inClass: true)
                    guard escaped.count == 1, escaped[0].0 == escaped[0].1 else { throw error("class range ends in a class") }
                    highScalar = escaped[0].0
                }
                guard highScalar >= lowSet[0].0 else { throw error("class range out of order") }
                lowSet = [(lowSet[0].0, highScalar)]
            }
            ranges += lowSet
        }
        guard current == 0x5D else { throw error("missing ']'") }
        position += 1
        return negated ? JSONStringClass.complement(ranges) : ranges
    }

    private mutating func escape(inClass: Bool) throws(GrammarError) -> [(UInt32, UInt32)] {
        guard let scalar = current else { throw error("trailing backslash") }
        position += 1
        let digits: [(UInt32, UInt32)] = [(0x30, 0x39)]
        let word: [(UInt32, UInt32)] = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
        let space: [(UInt32, UInt32)] = [
            (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
            (0x3000, 0x3000), (0xFEFF, 0xFEFF),
        ]
        switch scalar {
        case 0x64: return digits
        case 0x44: return JSONStringClass.complement(digits)
        case 0x77: return word
        case 0x57: return JSONStringClass.complement(word)
        case 0x73: return space
        case 0x53: return JSONStringClass.complement(space)
        case 0x6E: return [(0x0A, 0x0A)]
        case 0x72: return [(0x0D, 0x0D)]
        case 0x74: return [(0x09, 0x09)]
        case 0x66: return [(0x0C, 0x0C)]
        case 0x76: return [(0x0B, 0x0B)]
        case 0x30: return [(0, 0)]
        case 0x78, 0x75:
            let count = scalar == 0x78 ? 2 : 4
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = current, let hex = UInt32(String(UnicodeScalar(digit)!), radix: 16) else { throw error("malformed hex escape") }
                value = value << 4 | hex
                position += 1
            }
            return [(value, value)]
        case 0x62 where inClass: return [(0x08, 0x08)]
        default:
            let isLetterOrDigit = (scalar >= 0x30 && scalar <= 0x39) || (scalar >= 0x41 && scalar <= 0x5A) || (scalar >= 0x61 && scalar <= 0x7A)
            if isLetterOrDigit { throw error("unsupported escape '\\\(Character(UnicodeScalar(scalar)!))'") }
            return [(scalar, scalar)]
        }
    }
}
