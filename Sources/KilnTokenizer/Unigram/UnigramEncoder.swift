/// SentencePiece's unigram model (`tokenizer.ggml.model = "t5"`: T5, XLM-RoBERTa and the
/// embedding models built on them), as llama.cpp's `llm_tokenizer_ugm` runs it.
///
/// The text is normalised first: a user-defined token is kept as it is, else the longest
/// prefix in the precompiled charsmap is replaced, else the character is kept; spaces become
/// `▁`, one is prefixed to the text (`add_space_prefix`), and with `remove_extra_whitespaces`
/// runs of spaces collapse into the `▁` that starts each word. Then Viterbi over UTF-8
/// characters picks the tokenization whose scores (log probabilities, summed in double;
/// user-defined tokens score 0) are highest; a character no token starts with becomes the
/// unknown token at the lowest score less 10, and adjacent unknown tokens become one.
/// Immutable after init; each call brings its own scratch, so threads may share one encoder.
final class UnigramEncoder: Sendable {
    private let pieces: SortedPrefixTable
    private let userDefined: SortedPrefixTable
    private let scores: [Double]
    private let unknown: Int32
    private let unknownScore: Double
    private let charsmap: PrecompiledCharsmap?
    private let prefixesSpace: Bool
    private let mergesSpaces: Bool

    /// Scratch buffers for one `encode` call.
    struct Scratch {
        var normalized: [UInt8] = []
        var bestToken: [Int32] = []
        var bestStart: [Int32] = []
        var bestScore: [Double] = []
    }

    init(
        tokens: [String], attributes: [TokenAttributes], scores: [Float]?, unknown: Int32,
        charsmap: PrecompiledCharsmap?, addsSpacePrefix: Bool, removesExtraWhitespaces: Bool
    ) {
        var entries: [(bytes: [UInt8], value: Int32)] = []
        var userEntries: [(bytes: [UInt8], value: Int32)] = []
        var tokenScores = [Double](repeating: 0, count: tokens.count)
        var lowest = Float.greatestFiniteMagnitude
        for (id, text) in tokens.enumerated() {
            let attribute = attributes[id]
            let score = scores.flatMap { id < $0.count ? $0[id] : nil } ?? 0
            if attribute.contains(.normal) {
                lowest = min(lowest, score)
                tokenScores[id] = Double(score)
            }
            if attribute.contains(.normal) || attribute.contains(.userDefined) || attribute.contains(.unused) {
                entries.append((Array(text.utf8), Int32(id)))
            }
            if attribute.contains(.userDefined) { userEntries.append((Array(text.utf8), Int32(id))) }
            if attribute.contains(.unused) { tokenScores[id] = Double(score) }
        }
        pieces = SortedPrefixTable(entries)
        userDefined = SortedPrefixTable(userEntries)
        self.scores = tokenScores
        self.unknown = unknown
        unknownScore = Double(lowest) - 10
        self.charsmap = charsmap
        prefixesSpace = addsSpacePrefix
        mergesSpaces = removesExtraWhitespaces
    }

    /// Encodes one fragment of raw text (no special tokens) into `output`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        var normalized: [UInt8] = []
        swap(&normalized, &scratch.normalized)
        defer { swap(&normalized, &scratch.normalized) }
        normalize(text, into: &normalized)
        guard !normalized.isEmpty else { return }
        normalized.withUnsafeBufferPointer { search($0, into: &output, scratch: &scratch) }
    }

    /// llama.cpp's `normalize`: replacements, then the space rules, into `normalized`.
    private func normalize(_ text: UnsafeBufferPointer<UInt8>, into normalized: inout [UInt8]) {
        normalized.removeAll(keepingCapacity: true)
        var spacePrefixed = false
        var inWord = false
        func appendSpace() {
            normalized.append(0xE2)  // ▁
            normalized.append(0x96)
            normalized.append(0x81)
        }
        func emit(_ byte: UInt8) {
            guard byte != 0x20 else {
                inWord = false
                if !mergesSpaces { appendSpace() }
                return
            }
            if !inWord {
                inWord = true
                if (prefixesSpace && !spacePrefixed) || mergesSpaces {
                    appendSpace()
                    spacePrefixed = true
                }
            }
            normalized.append(byte)
        }
        let replacements = charsmap?.replacementBytes ?? []
        var offset = 0
        while offset < text.count {
            let user = userDefined.isEmpty ? 0 : userDefined.longestPrefix(of: text, from: offset)
            if user > 0 {
                for byte in text[offset..<offset + user] { emit(byte) }
                offset += user
            } else if let match = charsmap?.longestMatch(in: text, from: offset) {
                for byte in replacements[match.replacement] { emit(byte) }
                offset += match.length
            } else {
                let lead = text[offset]
                let length = min(UTF8Scanner.sequenceLength(lead), text.count - offset)
                for byte in text[offset..<offset + length] { emit(byte) }
                offset += length
            }
        }
    }

    /// Viterbi over `text`'s characters, then the best path back from the end.
    private func search(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        let count = text.count
        scratch.bestToken.removeAll(keepingCapacity: true)
        scratch.bestStart.removeAll(keepingCapacity: true)
        scratch.bestScore.removeAll(keepingCapacity: true)
        scratch.bestToken.append(contentsOf: repeatElement(unknown, count: count + 1))
        scratch.bestStart.append(contentsOf: repeatElement(0, count: count + 1))
        scratch.bestScore.append(contentsOf: repeatElement(-Double.greatestFiniteMagnitude, count: count + 1))
        scratch.bestScore[0] = 0
        scratch.bestToken.withUnsafeMutableBufferPointer { bestToken in
            scratch.bestStart.withUnsafeMutableBufferPointer { bestStart in
                scratch.bestScore.withUnsafeMutableBufferPointer { bestScore in
                    func offer(_ end: Int, _ token: Int32, _ start: Int, _ score: Double) {
                        guard score > bestScore[end] else { return }
                        bestToken[end] = token
                        bestStart[end] = Int32(start)
                        bestScore[end] = score
                    }
                    var start = 0
                    while start < count {
                        let lead = text[start]
                        let length = min(UTF8Scanner.sequenceLength(lead), count - start)
                        let base = bestScore[start]
                        var coversCharacter = false
                        pieces.forEachPrefix(of: text, from: start) { tokenLength, token in
                            if tokenLength == length { coversCharacter = true }
                            offer(start + tokenLength, token, start, base + scores[Int(token)])
                        }
                        if !coversCharacter { offer(start + length, unknown, start, base + unknownScore) }
                        start += length
                    }
                }
            }
        }
        let first = output.count
        var end = count
        var previousUnknown = false
        while true {
            let token = scratch.bestToken[end]
            let isUnknown = token == unknown
            if !(previousUnknown && isUnknown) { output.append(token) }
            let start = Int(scratch.bestStart[end])
            if start == 0 { break }
            previousUnknown = isUnknown
            end = start
        }
        output[first...].reverse()
    }
}
