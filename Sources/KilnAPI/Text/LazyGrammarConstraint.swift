import KilnGrammar
import KilnText

/// A grammar that applies from the place its trigger appears in the output on: a tool call
/// after free text (`tool_choice: auto`). Each sequence gets a `LazyGrammarTokenConstraint`.
struct LazyGrammarConstraintSource: TokenConstraintSource {
    /// The grammar, which starts with the trigger.
    let calls: GrammarConstraintSource
    let trigger: [UInt8]
    /// Whether only a trigger at the start of the output counts (after whitespace).
    let onlyAtStart: Bool

    func makeConstraint() -> any TokenConstraint {
        LazyGrammarTokenConstraint(calls: calls, trigger: trigger, onlyAtStart: onlyAtStart)
    }
}

/// Until its trigger appears the sequence samples freely (no mask is computed); the token that
/// completes the trigger starts the grammar, fed the output from the trigger's first byte on, and
/// from then every token is constrained. A trigger whose token carries bytes the grammar refuses
/// (or, with `onlyAtStart`, output that starts otherwise) ends the watch: the output stays free
/// and the answer is text.
final class LazyGrammarTokenConstraint: TokenConstraint {
    private let calls: GrammarConstraintSource
    private let trigger: [UInt8]
    private let onlyAtStart: Bool
    /// The output's latest bytes, long enough to hold a trigger split across tokens.
    private var recent: [UInt8] = []
    private var active: GrammarTokenConstraint?
    private var watching = true

    init(calls: GrammarConstraintSource, trigger: [UInt8], onlyAtStart: Bool) {
        self.calls = calls
        self.trigger = trigger
        self.onlyAtStart = onlyAtStart
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
        recent += calls.vocabulary.bytes(of: token)
        if onlyAtStart {
            guard let start = recent.firstIndex(where: { !Self.isWhitespace($0) }) else { return true }
            let output = recent[start...]
            if output.starts(with: trigger) {
                activate(from: start)
            } else if !trigger.starts(with: output) {
                watching = false
            }
            return true
        }
        if let start = firstOccurrence() {
            activate(from: start)
        } else if recent.count >= trigger.count {
            recent.removeFirst(recent.count - (trigger.count - 1))
        }
        return true
    }

    private func activate(from start: Int) {
        let constraint = calls.makeGrammarConstraint()
        if constraint.matcher.accept(bytes: recent[start...]) { active = constraint }
        watching = false
        recent = []
    }

    private func firstOccurrence() -> Int? {
        guard recent.count >= trigger.count else { return nil }
        return (0...(recent.count - trigger.count)).first { recent[$0..<($0 + trigger.count)].elementsEqual(trigger) }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
