/// Turns generated token ids into text one id at a time, never emitting a broken character.
///
/// A token may end in the middle of a UTF-8 sequence (an emoji spread over byte tokens, or a
/// CJK character split by byte-level BPE). The detokenizer emits every complete character at
/// once and holds back only a trailing sequence that is still a valid prefix; bytes that can
/// never become valid are emitted as U+FFFD right away rather than stalling the stream.
/// Call `finish()` at the end: an incomplete tail then becomes U+FFFD.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer)
/// for id in generated { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    /// Show control tokens such as `<|im_end|>` as text. Off by default, as in llama-server's output.
    public var renderSpecial: Bool
    /// Drop the SentencePiece space prefix of the very first token (when the stream starts the text).
    public var stripsFirstSpace: Bool
    /// Control tokens shown as text even without `renderSpecial`: those that are part of an
    /// output's syntax (Mistral's `[TOOL_CALLS]` starts its tool calls).
    public var renderedTokens: Set<Int32> = []
    private var pending: [UInt8] = []
    private var isFirst = true

    public init(tokenizer: Tokenizer, renderSpecial: Bool = false, stripsFirstSpace: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
        self.stripsFirstSpace = stripsFirstSpace
    }

    /// Bytes held back because they may begin a character that later tokens complete.
    public var heldBackByteCount: Int { pending.count }

    /// Adds one token and returns the text that is now complete (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        tokenizer.appendPiece(
            id, to: &pending, renderSpecial: renderSpecial || renderedTokens.contains(id),
            stripLeadingSpace: isFirst && stripsFirstSpace && tokenizer.addsSpacePrefix)
        isFirst = false
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Returns whatever is held back, with an incomplete tail as U+FFFD, and starts over.
    public mutating func finish() -> String {
        defer {
            pending.removeAll()
            isFirst = true
        }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of `bytes` without a trailing incomplete-but-valid UTF-8 sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        // Find the start of the last sequence: at most three continuation bytes back.
        var lead = count - 1
        while lead >= 0 && lead >= count - 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0 && lead >= count - 4 else { return count }
        let needed = sequenceLength(lead: bytes[lead])
        let present = count - lead
        guard needed > present else { return count }  // complete, or not a valid lead: emit
        // Hold back only if the bytes so far can still become a valid character.
        if present >= 2 && !validSecondByte(lead: bytes[lead], bytes[lead + 1]) { return count }
        return lead
    }

    /// How many bytes a sequence starting with `lead` has; 0 when `lead` cannot start one.
    private static func sequenceLength(lead: UInt8) -> Int {
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 0
        }
    }

    /// The second byte's range depends on the lead (no overlongs, surrogates or values > U+10FFFF).
    private static func validSecondByte(lead: UInt8, _ byte: UInt8) -> Bool {
        switch lead {
        case 0xE0: return (0xA0...0xBF).contains(byte)
        case 0xED: return (0x80...0x9F).contains(byte)
        case 0xF0: return (0x90...0xBF).contains(byte)
        case 0xF4: return (0x80...0x8F).contains(byte)
        default: return (0x80...0xBF).contains(byte)
        }
    }
}
