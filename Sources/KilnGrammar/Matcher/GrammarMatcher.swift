/// Follows one sequence through a grammar: which tokens may come next, and whether a token fits.
///
/// One matcher per sequence, used from one thread at a time. `fillAllowedTokens` walks the
/// vocabulary trie from the current configuration, jumping over dead subtrees and accepting whole
/// subtrees that the configuration loops over (a string's characters, say) without visiting them;
/// after the first steps of a sequence its configurations and their transitions are known and a walk
/// allocates nothing. `accept` is all or nothing: a token that does not fit leaves the state as it was.
public final class GrammarMatcher {
    /// The grammar being matched.
    public let grammar: Grammar
    /// The vocabulary masks are computed over, if any (a byte-only matcher has none).
    public let vocabulary: TokenVocabulary?

    private let automaton: StackSetAutomaton
    private var configuration: Int32
    private var terminated = false
    private var stateAtDepth: [Int32]
    /// Per byte set of the grammar: the vocabulary's pure-subtree table, fetched on first need.
    private var pureTables: [[UInt64]?]

    /// A matcher at the start of `grammar`; `vocabulary` is needed for masks and token ids.
    public init(grammar: Grammar, vocabulary: TokenVocabulary? = nil, limits: GrammarLimits = GrammarLimits()) {
        self.grammar = grammar
        self.vocabulary = vocabulary
        automaton = StackSetAutomaton(grammar: grammar, maxStacks: limits.maxStacks, maxConfigurations: limits.maxMatcherStates)
        configuration = automaton.reset()
        stateAtDepth = [Int32](repeating: 0, count: (vocabulary?.maxTokenLength ?? 0) + 1)
        pureTables = [[UInt64]?](repeating: nil, count: grammar.byteSets.count / 4)
    }

    /// Whether the text so far is a complete match: the grammar may end here (end-of-sequence is allowed).
    public var canTerminate: Bool { !terminated && automaton.configurationCanEnd[Int(configuration)] }

    /// Whether the grammar ends here and admits nothing more, or an end-of-sequence token was accepted.
    public var isComplete: Bool { terminated || (canTerminate && automaton.isEmpty(configuration)) }

    /// Whether an end-of-sequence token has been accepted.
    public var isTerminated: Bool { terminated }

    /// Back to the start of the grammar.
    public func reset() {
        configuration = automaton.reset()
        terminated = false
    }

    /// Feeds bytes; returns false, leaving the state unchanged, if they do not fit the grammar.
    @discardableResult
    public func accept<Bytes: Sequence<UInt8>>(bytes: Bytes) -> Bool {
        guard !terminated else { return false }
        var state = configuration
        for byte in bytes {
            state = automaton.next(state, byte)
            if state == StackSetAutomaton.dead { return false }
        }
        configuration = state
        if automaton.needsCompaction { configuration = automaton.compact(keeping: configuration) }
        return true
    }

    /// Feeds a UTF-8 string; see `accept(bytes:)`.
    @discardableResult
    public func accept(string: String) -> Bool { accept(bytes: string.utf8) }

    /// Feeds a token: its bytes, or, for an end-of-sequence token, the end (allowed when `canTerminate`).
    @discardableResult
    public func accept(token: Int32) -> Bool {
        guard let vocabulary, token >= 0, Int(token) < vocabulary.count, !terminated else { return false }
        if vocabulary.endOfSequenceTokens.contains(token) {
            guard canTerminate else { return false }
            terminated = true
            return true
        }
        let bytes = vocabulary.tokenBytes[Int(token)]
        if bytes.isEmpty { return false }
        return accept(bytes: bytes)
    }

    /// Whether `token` would be accepted now, without accepting it.
    public func canAccept(token: Int32) -> Bool {
        guard let vocabulary, token >= 0, Int(token) < vocabulary.count, !terminated else { return false }
        if vocabulary.endOfSequenceTokens.contains(token) { return canTerminate }
        let bytes = vocabulary.tokenBytes[Int(token)]
        if bytes.isEmpty { return false }
        var state = configuration
        for byte in bytes {
            state = automaton.next(state, byte)
            if state == StackSetAutomaton.dead { return false }
        }
        return true
    }

    /// The number of 64-bit words a mask over the vocabulary takes.
    public var maskWordCount: Int { ((vocabulary?.count ?? 0) + 63) / 64 }

    /// Writes the allowed next tokens as a bitmask (bit `id % 64` of word `id / 64`) over
    /// `maskWordCount` words. After termination nothing is allowed.
    public func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>) {
        guard let vocabulary else { preconditionFailure("a matcher without a vocabulary has no token masks") }
        precondition(mask.count >= maskWordCount, "mask buffer is too small")
        mask.update(repeating: 0)
        guard !terminated else { return }
        if automaton.configurationCanEnd[Int(configuration)] {
            for token in vocabulary.endOfSequenceTokens { mask[Int(token) >> 6] |= 1 << UInt64(token & 63) }
        }
        if automaton.isEmpty(configuration) { return }
        vocabulary.nodeByte.withUnsafeBufferPointer { nodeByte in
            vocabulary.nodeDepth.withUnsafeBufferPointer { nodeDepth in
                vocabulary.subtreeEnd.withUnsafeBufferPointer { subtreeEnd in
                    vocabulary.tokenStart.withUnsafeBufferPointer { tokenStart in
                        vocabulary.tokensInPreorder.withUnsafeBufferPointer { tokens in
                            stateAtDepth.withUnsafeMutableBufferPointer { stateAtDepth in
                                stateAtDepth[0] = configuration
                                var node = 1
                                let nodeCount = nodeByte.count
                                while node < nodeCount {
                                    let depth = Int(nodeDepth[node])
                                    let state = automaton.next(stateAtDepth[depth - 1], nodeByte[node])
                                    if state == StackSetAutomaton.dead {
                                        node = Int(subtreeEnd[node])
                                        continue
                                    }
                                    var index = Int(tokenStart[node])
                                    let ownEnd = Int(tokenStart[node + 1])
                                    while index < ownEnd {
                                        let token = tokens[index]
                                        mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                                        index += 1
                                    }
                                    let end = Int(subtreeEnd[node])
                                    if end > node + 1, isPure(state: state, node: node) {
                                        let subtreeTokensEnd = Int(tokenStart[end])
                                        while index < subtreeTokensEnd {
                                            let token = tokens[index]
                                            mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                                            index += 1
                                        }
                                        node = end
                                        continue
                                    }
                                    stateAtDepth[depth] = state
                                    node += 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Fills `mask` (sized `maskWordCount`) and returns it; a convenience for tests and tools.
    public func allowedTokens() -> [UInt64] {
        var mask = [UInt64](repeating: 0, count: maskWordCount)
        mask.withUnsafeMutableBufferPointer { fillAllowedTokens(into: $0) }
        return mask
    }

    @inline(__always)
    private func isPure(state: Int32, node: Int) -> Bool {
        let set = automaton.configurationLoopSet[Int(state)]
        if set < 0 { return false }
        if pureTables[Int(set)] == nil, let vocabulary {
            let words = Array(grammar.byteSets[Int(set) * 4..<Int(set) * 4 + 4])
            pureTables[Int(set)] = vocabulary.pureSubtrees(for: words)
        }
        return pureTables[Int(set)]!.withUnsafeBufferPointer { ($0[node >> 6] >> UInt64(node & 63)) & 1 != 0 }
    }
}
