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
    /// The vocabulary's pure-subtree tables this matcher has needed, and their keys; for text
    /// tables, the mask of the tokens that are text throughout and the ASCII set.
    private var pureTables: [[UInt64]] = []
    private var pureTextTokens: [[UInt64]?] = []
    private var pureTextASCII: [[UInt64]] = []
    private var pureTableByKey: [PureTableKey: Int32] = [:]
    private var pureTableBases: [UnsafePointer<UInt64>] = []
    private var skipBases: [UnsafePointer<Int32>?] = []
    private var jsonTextTable: UnsafePointer<UInt64>?
    private var decoderAtDepth: [Int8]

    /// A matcher at the start of `grammar`; `vocabulary` is needed for masks and token ids.
    public init(grammar: Grammar, vocabulary: TokenVocabulary? = nil, limits: GrammarLimits = GrammarLimits()) {
        self.grammar = grammar
        self.vocabulary = vocabulary
        automaton = StackSetAutomaton(grammar: grammar, maxStacks: limits.maxStacks, maxConfigurations: limits.maxMatcherStates)
        configuration = automaton.reset()
        stateAtDepth = [Int32](repeating: 0, count: (vocabulary?.maxTokenLength ?? 0) + 1)
        decoderAtDepth = [Int8](repeating: -1, count: (vocabulary?.maxTokenLength ?? 0) + 1)
    }

    deinit {
        for base in pureTableBases { base.deallocate() }
        for base in skipBases { base?.deallocate() }
        jsonTextTable?.deallocate()
    }

    /// Bytes this matcher holds beyond the shared grammar and vocabulary: its automaton's tables
    /// and the copies of the pure-subtree tables it uses.
    public var memoryBytes: Int {
        automaton.memoryBytes + pureTables.reduce(0) { $0 + $1.count * 16 } + pureTextTokens.reduce(0) { $0 + ($1?.count ?? 0) * 8 }
    }

    /// Whether the text so far is a complete match: the grammar may end here (end-of-sequence is allowed).
    public var canTerminate: Bool { !terminated && automaton.configurationCanEnd[Int(configuration)] }

    /// Whether the grammar ends here and admits nothing more, or an end-of-sequence token was accepted.
    public var isComplete: Bool { terminated || (canTerminate && automaton.isEmpty(configuration)) }

    /// Whether a step needed more stacks than `GrammarLimits.maxStacks` (an ambiguous grammar):
    /// that step was refused, so a caller seeing no allowed token can say why.
    public var exceededStackLimit: Bool { automaton.overflowed }

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
        // Inside text (a JSON string, say) most tokens are text throughout: start from the
        // precomputed mask of those, and let the walk skip, without setting bits again, the subtrees
        // reached along text from the start that hold only text.
        let rootTable = pureTableIndex(for: configuration)
        var textASCII: (UInt64, UInt64) = (0, 0)
        let startsInText = rootTable >= 0 && pureTextTokens[Int(rootTable)] != nil
        if startsInText {
            let text = pureTextTokens[Int(rootTable)]!
            text.withUnsafeBufferPointer { text in
                for word in 0..<text.count { mask[word] |= text[word] }
            }
            textASCII = (pureTextASCII[Int(rootTable)][0], pureTextASCII[Int(rootTable)][1])
        }
        // Inside a maxLength string with n characters left: start from the precomputed mask of the
        // text tokens of at most n characters, and skip every subtree of text reached along text
        // (its tokens are in that mask, or too long); only tokens that leave the text are walked.
        var inBoundedText = false
        var textSkipTable = rootTable
        if !startsInText {
            var budget = automaton.configurationTextBudget[Int(configuration)]
            if budget == -2 { budget = UTF8Loop.textBudget(of: configuration, in: automaton) }
            if budget >= 0 {
                inBoundedText = true
                let levels = vocabulary.jsonTextTokensWithin
                levels[min(Int(budget), levels.count - 1)].withUnsafeBufferPointer { within in
                    for word in 0..<within.count { mask[word] |= within[word] }
                }
                let ascii = TokenVocabulary.jsonStringASCII
                textASCII = (ascii[0], ascii[1])
                textSkipTable = textTableIndex(ascii: ascii)
            }
        }
        let root = configuration
        let skip = startsInText || inBoundedText ? skipBases[Int(textSkipTable)] : nil
        if jsonTextTable == nil {
            let table = vocabulary.pureSubtreesOfText(ascii: TokenVocabulary.jsonStringASCII).pure
            let copy = UnsafeMutablePointer<UInt64>.allocate(capacity: table.count)
            copy.initialize(from: table, count: table.count)
            jsonTextTable = UnsafePointer(copy)
        }
        let jsonText = jsonTextTable
        vocabulary.charactersBelow.withUnsafeBufferPointer { charactersBelow in
            vocabulary.nodeByte.withUnsafeBufferPointer { nodeByte in
                vocabulary.nodeDepth.withUnsafeBufferPointer { nodeDepth in
                    vocabulary.subtreeEnd.withUnsafeBufferPointer { subtreeEnd in
                        vocabulary.tokenStart.withUnsafeBufferPointer { tokenStart in
                            vocabulary.tokensInPreorder.withUnsafeBufferPointer { tokens in
                                stateAtDepth.withUnsafeMutableBufferPointer { stateAtDepth in
                                    decoderAtDepth.withUnsafeMutableBufferPointer { decoderAtDepth in
                                        stateAtDepth[0] = root
                                        decoderAtDepth[0] = startsInText || inBoundedText ? 0 : -1
                                        var node = 1
                                        let nodeCount = nodeByte.count
                                        var transitions = automaton.transitions.base
                                        var pureColumn = automaton.configurationPureTable.base
                                        var budgetColumn = automaton.configurationTextBudget.base
                                        while node < nodeCount {
                                            let depth = Int(nodeDepth[node])
                                            let previousState = stateAtDepth[depth - 1]
                                            // Under a node reached along text, back at the start state
                                            // between characters, jump over the children already allowed.
                                            if let skip, previousState == root || inBoundedText, decoderAtDepth[depth - 1] == 0 {
                                                let target = Int(skip[node])
                                                if target != node {
                                                    node = target
                                                    continue
                                                }
                                            }
                                            let byte = nodeByte[node]
                                            var state = transitions[Int(previousState) &* 256 &+ Int(byte)]
                                            if state == StackSetAutomaton.unknown {
                                                state = automaton.computeTransition(previousState, byte)
                                                transitions = automaton.transitions.base
                                                pureColumn = automaton.configurationPureTable.base
                                                budgetColumn = automaton.configurationTextBudget.base
                                            }
                                            if state == StackSetAutomaton.dead {
                                                node = Int(subtreeEnd[node])
                                                continue
                                            }
                                            // Where the path from the start is still text (−1: it is not).
                                            var decoder = -1
                                            let previous = Int(decoderAtDepth[depth - 1])
                                            if previous >= 0 {
                                                let isText =
                                                    byte >= 0x80
                                                    || ((byte < 64 ? textASCII.0 >> UInt64(byte) : textASCII.1 >> UInt64(byte - 64)) & 1 != 0)
                                                decoder = isText ? UTF8Loop.next(previous, byte) : -1
                                            }
                                            var index = Int(tokenStart[node])
                                            let ownEnd = Int(tokenStart[node + 1])
                                            if decoder < 0 {
                                                while index < ownEnd {
                                                    let token = tokens[index]
                                                    mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                                                    index += 1
                                                }
                                            }
                                            index = ownEnd
                                            let end = Int(subtreeEnd[node])
                                            var table = pureColumn[Int(state)]
                                            if table == -2 {
                                                table = pureTableIndex(for: state)
                                                transitions = automaton.transitions.base
                                                pureColumn = automaton.configurationPureTable.base
                                                budgetColumn = automaton.configurationTextBudget.base
                                            }
                                            if end > node + 1, table >= 0,
                                                (pureTableBases[Int(table)][node >> 6] >> UInt64(node & 63)) & 1 != 0
                                            {
                                                if !(decoder == 0 && state == root) {
                                                    let subtreeTokensEnd = Int(tokenStart[end])
                                                    while index < subtreeTokensEnd {
                                                        let token = tokens[index]
                                                        mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                                                        index += 1
                                                    }
                                                }
                                                node = end
                                                continue
                                            }
                                            // Inside a maxLength string: a subtree of text no longer
                                            // than the characters left is allowed whole.
                                            if end > node + 1, let jsonText {
                                                var budget = budgetColumn[Int(state)]
                                                if budget == -2 {
                                                    budget = UTF8Loop.textBudget(of: state, in: automaton)
                                                    transitions = automaton.transitions.base
                                                    pureColumn = automaton.configurationPureTable.base
                                                    budgetColumn = automaton.configurationTextBudget.base
                                                }
                                                if budget >= 0, Int(charactersBelow[node]) <= Int(budget),
                                                    (jsonText[node >> 6] >> UInt64(node & 63)) & 1 != 0
                                                {
                                                    let subtreeTokensEnd = Int(tokenStart[end])
                                                    while index < subtreeTokensEnd {
                                                        let token = tokens[index]
                                                        mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                                                        index += 1
                                                    }
                                                    node = end
                                                    continue
                                                }
                                            }
                                            stateAtDepth[depth] = state
                                            decoderAtDepth[depth] = Int8(decoder)
                                            node += 1
                                        }
                                    }
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
    private func pureTableIndex(for state: Int32) -> Int32 {
        var index = automaton.configurationPureTable[Int(state)]
        if index == -2 {
            index = pureTable(for: state)
            automaton.configurationPureTable[Int(state)] = index
        }
        return index
    }

    /// Which pure-subtree table applies to a configuration, fetching it on first use: one for text
    /// (an ASCII set plus every UTF-8 character, as inside a JSON string), else one for a byte set
    /// a top loops on (digits, say); −1 for neither.
    private func pureTable(for state: Int32) -> Int32 {
        guard let vocabulary else { return -1 }
        let key: PureTableKey
        if let ascii = UTF8Loop.asciiSet(of: state, in: automaton) {
            key = PureTableKey(words: ascii, utf8: true)
        } else {
            let set = automaton.configurationLoopSet[Int(state)]
            if set < 0 { return -1 }
            key = PureTableKey(words: Array(grammar.byteSets[Int(set) * 4..<Int(set) * 4 + 4]), utf8: false)
        }
        return tableIndex(key)
    }

    /// The index of the text table for `ascii` (see `pureTable(for:)`), fetching it on first use.
    private func textTableIndex(ascii: [UInt64]) -> Int32 { tableIndex(PureTableKey(words: ascii, utf8: true)) }

    private func tableIndex(_ key: PureTableKey) -> Int32 {
        guard let vocabulary else { return -1 }
        if let index = pureTableByKey[key] { return index }
        if key.utf8 {
            let (pure, text, skip) = vocabulary.pureSubtreesOfText(ascii: key.words)
            pureTables.append(pure)
            pureTextTokens.append(text)
            let copy = UnsafeMutablePointer<Int32>.allocate(capacity: skip.count)
            copy.initialize(from: skip, count: skip.count)
            skipBases.append(UnsafePointer(copy))
        } else {
            pureTables.append(vocabulary.pureSubtrees(for: key.words))
            pureTextTokens.append(nil)
            skipBases.append(nil)
        }
        // A private copy behind a pointer the walk reads without retaining anything.
        let copy = UnsafeMutablePointer<UInt64>.allocate(capacity: pureTables[pureTables.count - 1].count)
        copy.initialize(from: pureTables[pureTables.count - 1], count: pureTables[pureTables.count - 1].count)
        pureTableBases.append(UnsafePointer(copy))
        pureTextASCII.append(key.words)
        pureTableByKey[key] = Int32(pureTables.count - 1)
        return Int32(pureTables.count - 1)
    }
}

struct PureTableKey: Hashable {
    var words: [UInt64]
    var utf8: Bool
}
