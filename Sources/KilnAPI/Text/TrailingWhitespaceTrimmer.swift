/// Holds back whitespace at the end of streamed text until text follows it, and drops it at the
/// end: a JSON answer ends with its value. The grammar refuses whitespace-only tokens once the
/// value may end, but a token can close the value and add whitespace in one (Qwen's `]\n\n`), and
/// that whitespace means nothing.
struct TrailingWhitespaceTrimmer {
    private var held = ""

    /// The text of `piece` that can be sent now.
    mutating func append(_ piece: String) -> String {
        guard let last = piece.lastIndex(where: { !$0.isWhitespace }) else {
            held += piece
            return ""
        }
        let end = piece.index(after: last)
        defer { held = String(piece[end...]) }
        return held + piece[..<end]
    }
}
