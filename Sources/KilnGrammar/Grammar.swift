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

    init(code: [Int32], byteSets: [UInt64], alternativeStarts: [Int32], alternativeOffsets: [Int32], ruleNames: [String], rootRule: Int) {
        self.code = code
        self.byteSets = byteSets
        self.alternativeStarts = alternativeStarts
        self.alternativeOffsets = alternativeOffsets
        self.ruleNames = ruleNames
        self.rootRule = rootRule
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

    /// Compiles GBNF text whose start rule is `root`.
    public init(gbnf text: String, root: String = "root", limits: GrammarLimits = GrammarLimits()) throws(GrammarError) {
        let syntax = try GBNFParser.parse(text, limits: limits)
        self = try GrammarBuilder.build(syntax, root: root, limits: limits)
    }
}
