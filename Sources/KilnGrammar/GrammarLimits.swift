/// Bounds on what a client can make the grammar compiler and matcher do. Each is a setting: the
/// defaults admit every schema OpenAI's strict mode and pydantic produce for ordinary models, and
/// keep the worst case (a hostile schema or grammar) to milliseconds and megabytes.
public struct GrammarLimits: Sendable, Equatable, Hashable {
    /// The longest GBNF text accepted, in bytes (generated GBNF from a schema counts too).
    public var maxGrammarBytes: Int = 1 << 20
    /// The most rules a grammar may have after repetitions and character classes are expanded.
    public var maxRules: Int = 20_000
    /// The most elements (bytes sets, rule references, ends) in the compiled program.
    public var maxCompiledElements: Int = 500_000
    /// The largest `m` or `n` of a `{m,n}` repetition (GBNF, `minItems`, `maxLength`, …).
    public var maxRepetition: Int = 2_000
    /// The most nested levels of groups in GBNF text, and of subschemas in a JSON Schema.
    public var maxDepth: Int = 64
    /// The most nodes (objects, arrays and scalars counted together) in a JSON Schema.
    public var maxSchemaNodes: Int = 20_000
    /// The most states a `pattern` regular expression may compile to (its nodes after expansion).
    public var maxRegexStates: Int = 10_000
    /// The most stacks a matcher keeps alive at once; an ambiguous grammar past it fails the step
    /// instead of slowing it without bound.
    public var maxStacks: Int = 4_096
    /// The most configurations a matcher keeps with their transitions (1 KiB each) before it
    /// rebuilds its tables around the current one (between tokens).
    public var maxMatcherStates: Int = 4_096

    public init() {}
}
