/// BERT's WordPiece: normalise, split into words, then cut each word into the longest pieces
/// the vocabulary has, left to right.
///
/// - Normalising is `BertNormalizer`.
/// - Splitting is Hugging Face's `BertPreTokenizer`: whitespace (`White_Space`) separates words
///   and is dropped; every punctuation character (ASCII punctuation, which includes symbols such
///   as `$` and `+`, or a Unicode `P*` character as of Unicode 8.0, see `BertNormalizer`) is a
///   word of its own.
/// - Each word is matched greedily, longest first: the first piece among the word-initial tokens,
///   the rest among the continuation tokens (`##ing` in a Hugging Face vocabulary, a token without
///   the `▁` phantom space in a llama.cpp GGUF). A word with no full cover, or longer than
///   `maxInputCharactersPerWord` characters, becomes one unknown token.
///
/// Lookups hash byte ranges of the normalised UTF-8 buffer (`ByteStringTable`), so matching
/// allocates nothing; the buffer and the word list live in a per-call `Scratch`.
// @unchecked Sendable: immutable after init; its tables are only read.
final class WordPieceEncoder: @unchecked Sendable {
    /// How continuation pieces are told apart from word-initial ones in the token texts.
    enum TokenForm: Sendable, Equatable {
        /// Hugging Face: continuation tokens start with a prefix (`##`); the others begin words.
        case continuingPrefix(String)
        /// llama.cpp's conversion: word-initial tokens start with `▁`; the others continue words.
        case phantomSpace
    }

    let normalizer: BertNormalizer
    let maxInputCharactersPerWord: Int
    private let initial: ByteStringTable
    private let continuation: ByteStringTable
    private let longestInitial: Int
    private let longestContinuation: Int
    private let unknown: Int32

    /// Per-call buffers, reused across the fragments of one `encode`.
    struct Scratch {
        var normalized: [UInt8] = []
    }

    /// `tokens` holds every token's text, indexed by id; for duplicated texts the last id wins,
    /// as in llama.cpp. Special tokens stay in the tables, as in both references: their texts
    /// (`[CLS]`) hold punctuation, which the pre-tokenizer always splits off, so no word matches them.
    init(
        tokens: [String], form: TokenForm, normalizer: BertNormalizer,
        unknown: Int32, maxInputCharactersPerWord: Int
    ) {
        let initial = ByteStringTable(minimumCapacity: tokens.count)
        let continuation = ByteStringTable(minimumCapacity: tokens.count / 2)
        var longestInitial = 0
        var longestContinuation = 0
        let marker: [UInt8] =
            switch form {
            case .continuingPrefix(let prefix): Array(prefix.utf8)
            case .phantomSpace: Array("▁".utf8)
            }
        for (id, text) in tokens.enumerated() {
            let bytes = Array(text.utf8)
            let marked = !marker.isEmpty && bytes.starts(with: marker)
            let piece = marked ? Array(bytes[marker.count...]) : bytes
            guard !piece.isEmpty else { continue }
            // Hugging Face marks continuations; llama.cpp marks word starts.
            let isContinuation = form == .phantomSpace ? !marked : marked
            if isContinuation {
                continuation.set(Int64(id), for: piece)
                longestContinuation = max(longestContinuation, piece.count)
            } else {
                initial.set(Int64(id), for: piece)
                longestInitial = max(longestInitial, piece.count)
            }
        }
        self.initial = initial
        self.continuation = continuation
        self.longestInitial = longestInitial
        self.longestContinuation = longestContinuation
        self.normalizer = normalizer
        self.unknown = unknown
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
    }

    /// Appends the ids of `text` (a fragment without special tokens) to `output`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        scratch.normalized.removeAll(keepingCapacity: true)
        if normalizer.isIdentity {
            scratch.normalized.append(contentsOf: text)
        } else {
            normalizer.normalize(text, into: &scratch.normalized)
        }
        scratch.normalized.withUnsafeBufferPointer { buffer in
            splitWords(buffer) { start, end in
                encodeWord(buffer, start: start, end: end, into: &output)
            }
        }
    }

    /// Hugging Face's `BertPreTokenizer`: calls `body` with the byte range of each word.
    @inline(__always)
    private func splitWords(_ text: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Void) {
        let count = text.count
        var wordStart = 0
        var index = 0
        while index < count {
            let lead = text[index]
            var value = UInt32(lead)
            var length = 1
            if lead >= 0x80 {
                (value, length) = Self.decodeScalar(text, at: index)
            }
            let isSpace: Bool
            let isPunctuation: Bool
            if value < 0x80 {
                isSpace = value == 0x20 || (0x09...0x0D).contains(value)
                isPunctuation = Self.isASCIIPunctuation(UInt8(value))
            } else {
                isSpace = UnicodeClassifier.isWhitespace(value)
                isPunctuation = BertNormalizer.isPunctuation(value)
            }
            if isSpace || isPunctuation {
                if index > wordStart { body(wordStart, index) }
                if isPunctuation { body(index, index + length) }
                wordStart = index + length
            }
            index += length
        }
        if count > wordStart { body(wordStart, count) }
    }

    /// Greedy longest-match-first over one word.
    @inline(__always)
    private func encodeWord(_ text: UnsafeBufferPointer<UInt8>, start wordStart: Int, end wordEnd: Int, into output: inout [Int32]) {
        var characters = 0
        for index in wordStart..<wordEnd where text[index] & 0xC0 != 0x80 { characters += 1 }
        if characters > maxInputCharactersPerWord {
            output.append(unknown)
            return
        }
        let mark = output.count
        var start = wordStart
        while start < wordEnd {
            let isFirst = start == wordStart
            let table = isFirst ? initial : continuation
            var end = min(wordEnd, start + (isFirst ? longestInitial : longestContinuation))
            // Pieces end on character boundaries.
            while end < wordEnd && end > start && text[end] & 0xC0 == 0x80 { end -= 1 }
            var found: Int64?
            while end > start {
                if let id = table.value(for: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: text[start..<end]))) {
                    found = id
                    break
                }
                end -= 1
                while end > start && text[end] & 0xC0 == 0x80 { end -= 1 }
            }
            guard let id = found else {
                // One piece missing makes the whole word unknown.
                output.removeSubrange(mark...)
                output.append(unknown)
                return
            }
            output.append(Int32(truncatingIfNeeded: id))
            start = end
        }
    }

    /// Rust's `char::is_ascii_punctuation`: every printable ASCII character that is not a letter
    /// or digit.
    @inline(__always)
    static func isASCIIPunctuation(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// The scalar starting at `index` (a lead byte of valid UTF-8) and its length in bytes.
    @inline(__always)
    static func decodeScalar(_ text: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int) {
        let lead = UInt32(text[index])
        let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        guard index + length <= text.count else { return (0xFFFD, 1) }
        var value = lead & (lead < 0xE0 ? 0x1F : lead < 0xF0 ? 0x0F : 0x07)
        for offset in 1..<length { value = value << 6 | UInt32(text[index + offset] & 0x3F) }
        return (value, length)
    }
}
