import KilnGrammar
import KilnText

/// Text in the output from which a grammar applies.
struct GrammarTrigger: Sendable {
    var text: FrameText
    /// Whether it counts only at the start of the output (after whitespace).
    var onlyAtStart: Bool
}

/// A grammar that applies from the place one of its triggers appears in the output on: a tool
/// call after free text (`tool_choice: auto`). Each sequence gets a `LazyGrammarTokenConstraint`.
struct LazyGrammarConstraintSource: TokenConstraintSource {
    /// The grammar, each of whose alternatives starts with a trigger.
    let calls: GrammarConstraintSource
    let triggers: [GrammarTrigger]

    func makeConstraint() -> any TokenConstraint { LazyGrammarTokenConstraint(calls: calls, triggers: triggers) }
}

/// Until a trigger appears the sequence samples freely (no mask is computed); the token that
/// completes one starts the grammar, fed the output from the trigger's first byte on, and from
/// then every token is constrained. A trigger whose token carries bytes the grammar refuses ends
/// the watch: the output stays free, and the answer is text.
final class LazyGrammarTokenConstraint: TokenConstraint {
    private let calls: GrammarConstraintSource
    private let anywhere: [FrameText]
    private let atStart: [FrameText]
    /// The output since the first place a trigger could still start (at most `maxRecent` bytes).
    private var recent: [UInt8] = []
    private static let maxRecent = 256
    /// The output after its leading whitespace, while a start-only trigger may still match it.
    private var head: [UInt8] = []
    private var headCanMatch: Bool
    private var active: GrammarTokenConstraint?
    private var watching = true

    init(calls: GrammarConstraintSource, triggers: [GrammarTrigger]) {
        self.calls = calls
        anywhere = triggers.filter { !$0.onlyAtStart }.map(\.text)
        atStart = triggers.filter(\.onlyAtStart).map(\.text)
        headCanMatch = !atStart.isEmpty
    }

    var constrainsNextToken: Bool { active != nil }

    func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>) {
        if let active {
            active.fillAllowedTokens(into: mask)
        } else {
            for index in mask.indices { mask[index] = ~0 }
        }
    }

    func accept(token: Int32) -> Bool {
        if let active { return active.accept(token: token) }
        guard watching, token >= 0, Int(token) < calls.vocabulary.count else { return true }
        let bytes = calls.vocabulary.bytes(of: token)
        if headCanMatch {
            head += head.isEmpty ? bytes.drop(while: FrameText.isSpace) : bytes[...]
            if !head.isEmpty {
                let matches = atStart.map { $0.match(head) }
                if matches.contains(where: { if case .matched = $0 { return true } else { return false } }) {
                    activate(with: head[...])
                    return true
                }
                headCanMatch = matches.contains(.needsMore)
            }
        }
        guard !anywhere.isEmpty else { return true }
        recent += bytes
        if let start = anywhere.compactMap({ $0.firstMatch(in: recent)?.lowerBound }).min() {
            activate(with: recent[start...])
            return true
        }
        // Keep only what could still become a trigger.
        let keep = anywhere.compactMap { $0.partialStart(in: recent) }.min() ?? recent.count
        recent.removeFirst(max(keep, recent.count - Self.maxRecent))
        return true
    }

    private func activate(with output: ArraySlice<UInt8>) {
        let constraint = calls.makeGrammarConstraint()
        if constraint.matcher.accept(bytes: output) { active = constraint }
        watching = false
        recent = []
        head = []
    }
}
