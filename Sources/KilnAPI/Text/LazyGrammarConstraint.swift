import KilnGrammar
import KilnText

/// Text in the output from which a grammar applies.
struct GrammarTrigger: Sendable {
    var bytes: [UInt8]
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
    private let anywhere: [[UInt8]]
    private let atStart: [[UInt8]]
    /// The output's latest bytes, long enough to hold a trigger split across tokens.
    private var recent: [UInt8] = []
    private let recentLength: Int
    /// The output after its leading whitespace, while a start-only trigger may still match it.
    private var head: [UInt8] = []
    private var headCanMatch: Bool
    private var active: GrammarTokenConstraint?
    private var watching = true

    init(calls: GrammarConstraintSource, triggers: [GrammarTrigger]) {
        self.calls = calls
        anywhere = triggers.filter { !$0.onlyAtStart }.map(\.bytes)
        atStart = triggers.filter(\.onlyAtStart).map(\.bytes)
        recentLength = anywhere.map(\.count).max() ?? 0
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
            head += head.isEmpty ? bytes.drop(while: Self.isWhitespace) : bytes[...]
            if !head.isEmpty {
                if atStart.contains(where: { head.starts(with: $0) }) {
                    activate(with: head[...])
                    return true
                }
                headCanMatch = atStart.contains { $0.starts(with: head) }
            }
        }
        guard !anywhere.isEmpty else { return true }
        recent += bytes
        if let start = earliestTrigger() {
            activate(with: recent[start...])
        } else if recent.count >= recentLength {
            recent.removeFirst(recent.count - (recentLength - 1))
        }
        return true
    }

    private func activate(with output: ArraySlice<UInt8>) {
        let constraint = calls.makeGrammarConstraint()
        if constraint.matcher.accept(bytes: output) { active = constraint }
        watching = false
        recent = []
        head = []
    }

    private func earliestTrigger() -> Int? {
        anywhere.compactMap { trigger -> Int? in
            guard recent.count >= trigger.count else { return nil }
            return (0...(recent.count - trigger.count)).first { recent[$0..<($0 + trigger.count)].elementsEqual(trigger) }
        }.min()
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
