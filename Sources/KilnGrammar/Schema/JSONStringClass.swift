/// Sets of characters of a decoded JSON string written as GBNF over its encoded form: a character
/// JSON must escape (`"`, `\`, controls) is matched by its escapes, the others as themselves.
enum JSONStringClass {
    /// The code points not in `ranges` (surrogates never count: no JSON text decodes to them alone).
    static func complement(_ ranges: [(UInt32, UInt32)]) -> [(UInt32, UInt32)] {
        var result: [(UInt32, UInt32)] = []
        var next: UInt32 = 0
        for (low, high) in normalize(ranges) {
            if low > next { result.append((next, low - 1)) }
            next = high + 1
        }
        if next <= 0x10FFFF { result.append((next, 0x10FFFF)) }
        return result
    }

    static func normalize(_ ranges: [(UInt32, UInt32)]) -> [(UInt32, UInt32)] {
        var merged: [(UInt32, UInt32)] = []
        for (low, high) in ranges.sorted(by: { $0.0 < $1.0 }) {
            if let last = merged.last, low <= last.1 &+ 1 {
                merged[merged.count - 1].1 = max(last.1, high)
            } else {
                merged.append((low, high))
            }
        }
        return merged
    }

    private static func contains(_ ranges: [(UInt32, UInt32)], _ value: UInt32) -> Bool {
        ranges.contains { $0.0 <= value && value <= $0.1 }
    }

    /// GBNF matching one character of the set, JSON-encoded.
    static func expression(for ranges: [(UInt32, UInt32)]) -> String {
        let set = normalize(ranges)
        // Characters that appear as themselves: the set without `"`, `\` and controls.
        let plain = subtract(set, [(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C)])
        var alternatives: [String] = []
        if !plain.isEmpty {
            let complementOfPlain = complement(plain)
            if complementOfPlain.count < plain.count {
                alternatives.append("[^" + complementOfPlain.map(classRange).joined() + "]")
            } else {
                alternatives.append("[" + plain.map(classRange).joined() + "]")
            }
        }
        if contains(set, 0x22) { alternatives.append(#""\\\"""#) }
        if contains(set, 0x5C) { alternatives.append(#""\\\\""#) }
        let shortEscapes: [UInt32: String] = [0x08: "b", 0x0C: "f", 0x0A: "n", 0x0D: "r", 0x09: "t"]
        var controls: [UInt32] = []
        for control: UInt32 in 0...0x1F where contains(set, control) { controls.append(control) }
        for control in controls {
            var forms = [#""\\u"# + SchemaPrimitives.hex(control, digits: 4).lowercased() + "\""]
            if let short = shortEscapes[control] { forms.append(#""\\"# + short + "\"") }
            alternatives += forms
        }
        if alternatives.isEmpty { return "[^\\x00-\\U0010FFFF]" }  // the empty set: matches nothing
        return alternatives.count == 1 ? alternatives[0] : "(" + alternatives.joined(separator: " | ") + ")"
    }

    private static func subtract(_ set: [(UInt32, UInt32)], _ removed: [(UInt32, UInt32)]) -> [(UInt32, UInt32)] {
        let kept = complement(removed)
        var result: [(UInt32, UInt32)] = []
        for (low, high) in set {
            for (keptLow, keptHigh) in kept where keptLow <= high && low <= keptHigh {
                result.append((max(low, keptLow), min(high, keptHigh)))
            }
        }
        return result
    }

    private static func classRange(_ range: (UInt32, UInt32)) -> String {
        range.0 == range.1
            ? SchemaPrimitives.classCharacter(range.0)
            : SchemaPrimitives.classCharacter(range.0) + "-" + SchemaPrimitives.classCharacter(range.1)
    }
}
