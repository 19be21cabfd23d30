/// A compiled grammar: immutable, shareable between sequences and threads, over bytes.
///
/// Rules are stored as one flat program of elements. Each alternative of each rule is a run of
/// elements ending in `Grammar.end`; an element is a byte set (its index, ≥ 0), a rule reference
/// (`-(rule + 2)`), or the end (−1). Character classes and literals are already lowered to byte sets
/// (a multi-byte UTF-8 character is a sequence of them), and repetitions to helper rules, so the
/// matcher never decodes UTF-8 and accepts a token's bytes one at a time, whole characters or not.
public struct Grammar: Sendable {
    static let end: Int32 = -1

    /// The flat program (see the type's comment).
    let code: [Int32]
    /// 256-bit sets, four words each.
    let byteSets: [UInt64]
    /// The start of each alternative of each rule, rule by rule.
    let alternativeStarts: [Int32]
    /// Rule `r`'s alternatives are `alternativeStarts[alternativeOffsets[r]..<alternativeOffsets[r + 1]]`.
    let alternativeOffsets: [Int32]
    /// Names of rules, generated ones included (for messages and tests).
    public let ruleNames: [String]
    /// The rule a match starts in.
    public let rootRule: Int

    /// One byte of each class of bytes that no byte set and no UTF-8 role tells apart: the matcher
    /// treats every byte of a class alike, so checking one stands for all.
    let byteClassRepresentatives: [UInt8]

    init(code: [Int32], byteSets: [UInt64], alternativeStarts: [Int32], alternativeOffsets: [Int32], ruleNames: [String], rootRule: Int) {
        self.code = code
        self.byteSets = byteSets
        self.alternativeStarts = alternativeStarts
        self.alternativeOffsets = alternativeOffsets
        self.ruleNames = ruleNames
        self.rootRule = rootRule
        byteClassRepresentatives = Self.byteClasses(byteSets)
    }

    private static func byteClasses(_ byteSets: [UInt64]) -> [UInt8] {
        let utf8Boundaries: [UInt8] = [0x80, 0x90, 0xA0, 0xC0, 0xC2, 0xE0, 0xE1, 0xED, 0xEE, 0xF0, 0xF1, 0xF4, 0xF5]
        var seen = Set<[UInt64]>()
        var representatives: [UInt8] = []
        let setCount = byteSets.count / 4
        for byte in 0...255 {
            var signature = [UInt64](repeating: 0, count: (setCount + 63) / 64 + 1)
            for set in 0..<setCount where (byteSets[set * 4 + byte >> 6] >> UInt64(byte & 63)) & 1 != 0 {
                signature[set >> 6] |= 1 << UInt64(set & 63)
            }
            signature[signature.count - 1] = UInt64(utf8Boundaries.filter { Int($0) <= byte }.count) << 1 | (byte < 0x80 ? 1 : 0)
            if seen.insert(signature).inserted { representatives.append(UInt8(byte)) }
        }
        return representatives
    }

    /// Bytes the compiled form occupies (its arrays), for the cache's bound and the benchmarks.
    public var memoryBytes: Int {
        code.count * 4 + byteSets.count * 8 + alternativeStarts.count * 4 + alternativeOffsets.count * 4
            + ruleNames.reduce(0) { $0 + $1.utf8.count + 16 }
    }

    /// The number of elements in the program.
    public var elementCount: Int { code.count }

    @inline(__always) static func isRuleReference(_ element: Int32) -> Bool { element <= -2 }
    @inline(__always) static func referencedRule(_ element: Int32) -> Int { Int(-element - 2) }
    @inline(__always) static func reference(to rule: Int) -> Int32 { Int32(-(rule + 2)) }

    /// Whether byte set `set` contains `byte`.
    @inline(__always) func contains(set: Int32, byte: UInt8) -> Bool {
        byteSets.withUnsafeBufferPointer { words in
            (words[Int(set) &* 4 &+ Int(byte >> 6)] >> UInt64(byte & 63)) & 1 != 0
        }
    }

    /// `text` as a GBNF literal, for grammars written by program.
    public static func literal(_ text: String) -> String { SchemaPrimitives.literal(text) }

    /// Compiles GBNF text whose start rule is `root`.
    public init(gbnf text: String, root: String = "root", limits: GrammarLimits = GrammarLimits()) throws(GrammarError) {
        let syntax = try GBNFParser.parse(text, limits: limits)
        self = try GrammarBuilder.build(syntax, root: root, limits: limits)
    }
}
