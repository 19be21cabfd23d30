import KilnGrammar

/// Fixed text of a tool-call frame, read as JSON is: after `{`, `,` and `:`, and before `}`, any
/// whitespace may stand, none included (a space written there is just the usual choice). Models
/// pretty-print their calls (`{\n  "name": …`), so the call grammar writes the frame this way, and
/// the parser and the triggers read it this way.
struct FrameText: Sendable {
    /// The text as written.
    let text: String
    /// Its bytes, each with whether whitespace may come before it.
    private let steps: [(byte: UInt8, spaceBefore: Bool)]
    /// Whether whitespace may follow the text (it ends with `{`, `,` or `:`).
    private let spaceAfter: Bool

    /// Most whitespace the grammar allows in one place.
    static let maxSpace = 20

    init(_ text: String) {
        self.text = text
        var steps: [(UInt8, Bool)] = []
        var spaceNext = false
        for byte in text.utf8 {
            if spaceNext && byte == 0x20 { continue }
            steps.append((byte, spaceNext || byte == 0x7D))
            spaceNext = byte == 0x7B || byte == 0x2C || byte == 0x3A
        }
        self.steps = steps
        spaceAfter = spaceNext
    }

    var isEmpty: Bool { steps.isEmpty }

    /// The GBNF of the text; `space` names a rule of optional whitespace.
    func gbnf(space: String) -> String {
        var parts: [String] = []
        var run = ""
        for (byte, spaceBefore) in steps {
            if spaceBefore {
                if !run.isEmpty { parts.append(Grammar.literal(run)) }
                parts.append(space)
                run = ""
            }
            run.unicodeScalars.append(Unicode.Scalar(byte))
        }
        if !run.isEmpty { parts.append(Grammar.literal(run)) }
        if spaceAfter { parts.append(space) }
        return parts.isEmpty ? "\"\"" : parts.joined(separator: " ")
    }

    enum Match: Equatable {
        /// The text is there, in this many bytes (with the whitespace after a final `{`, `,` or `:`).
        case matched(Int)
        /// What there is fits the text so far.
        case needsMore
        case mismatch
    }

    /// Whether `bytes` start with the text.
    func match<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Match {
        var index = bytes.startIndex
        var consumed = 0
        for (byte, spaceBefore) in steps {
            if spaceBefore {
                while index < bytes.endIndex && Self.isSpace(bytes[index]) {
                    index = bytes.index(after: index)
                    consumed += 1
                }
            }
            guard index < bytes.endIndex else { return .needsMore }
            guard bytes[index] == byte else { return .mismatch }
            index = bytes.index(after: index)
            consumed += 1
        }
        if spaceAfter {
            // The whitespace after the text is part of it: wait until something else follows.
            while index < bytes.endIndex && Self.isSpace(bytes[index]) {
                index = bytes.index(after: index)
                consumed += 1
            }
            if index == bytes.endIndex { return .needsMore }
        }
        return .matched(consumed)
    }

    /// Where the text first appears in `bytes`, as offsets.
    func firstMatch(in bytes: [UInt8]) -> Range<Int>? {
        for start in bytes.indices where bytes[start] == steps.first?.byte {
            if case .matched(let length) = match(bytes[start...]) { return start..<(start + length) }
        }
        return nil
    }

    /// The first offset from which the rest of `bytes` could still become the text.
    func partialStart(in bytes: [UInt8]) -> Int? {
        bytes.indices.first { bytes[$0] == steps.first?.byte && match(bytes[$0...]) == .needsMore }
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
