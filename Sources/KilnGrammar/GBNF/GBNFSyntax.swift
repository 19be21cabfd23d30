/// The parsed form of GBNF text, before repetitions and character classes are lowered to bytes.
public struct GBNFSyntax: Sendable, Equatable {
    /// One rule: its name and its alternatives, each a sequence of terms.
    public struct Rule: Sendable, Equatable {
        public var name: String
        public var alternatives: [[Term]]
        /// Where the rule's name starts (1-based), for errors about the rule.
        public var line: Int
        public var column: Int
    }

    /// An inclusive range of Unicode code points.
    public struct CodePointRange: Sendable, Equatable, Hashable {
        public var lower: UInt32
        public var upper: UInt32
        public init(_ lower: UInt32, _ upper: UInt32) {
            self.lower = lower
            self.upper = upper
        }
    }

    /// One element of a sequence.
    public indirect enum Term: Sendable, Equatable {
        /// A literal string, as code points.
        case literal([UInt32])
        /// `[...]` or `[^...]`; `.` is a negated empty class.
        case characterClass(ranges: [CodePointRange], negated: Bool)
        /// A reference to a rule by name (resolved when the grammar is built).
        case rule(name: String, line: Int, column: Int)
        /// A parenthesised group of alternatives.
        case group([[Term]])
        /// A term repeated `min` to `max` times (`max` nil: unbounded).
        case repeated(Term, min: Int, max: Int?)
    }

    /// Rules in the order of the text; a name defined twice adds alternatives, as in llama.cpp.
    public var rules: [Rule]
}
