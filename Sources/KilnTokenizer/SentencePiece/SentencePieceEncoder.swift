/// SentencePiece-style BPE (`tokenizer.ggml.model = "llama"`: Llama 2, Phi-3, Mistral v1).
///
/// Spaces become `▁` (U+2581) and, after the start of the text or a special token, one `▁` is
/// prefixed. The text starts as one symbol per UTF-8 character; the adjacent pair whose join is
/// the vocabulary token with the highest score merges first (ties: leftmost), until no join is a
/// token. A symbol left that is not a token is spelled with the `<0xXX>` byte tokens. This is
/// llama.cpp's `llm_tokenizer_spm`; there is no pre-splitting, so merges may cross spaces.
///
/// One shortcut keeps long texts fast without changing a single id: an ASCII character that
/// occurs in no multi-character token (in Llama's vocabulary: newline, tab, most control
/// characters) can never be merged, so the text is cut there and each piece merges on its own
/// with a small heap. The merges inside each piece are exactly those the whole text would get.
// @unchecked Sendable: immutable after init; its tables are raw buffers that are only read.
final class SentencePieceEncoder: @unchecked Sendable {
    /// Token text (UTF-8, with `▁`) to id; immutable after init.
    private let pieces: ByteStringTable
    private let scores: [Float]
    /// The `<0xXX>` token of each byte (or the byte's own one-character token), else unknown.
    private let byteTokens: [Int32]
    /// ASCII bytes that no token of two or more characters contains.
    private let isBarrier: [Bool]

    struct Scratch {
        var text: [UInt8] = []
        var starts: [Int32] = []
        var lengths: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var queue = MergeQueue()
    }

    init(tokens: [String], scores: [Float]?, unknown: Int32?) {
        let table = ByteStringTable(minimumCapacity: tokens.count)
        for (id, text) in tokens.enumerated() { table.set(Int64(id), for: Array(text.utf8)) }
        pieces = table
        var barriers = [Bool](repeating: true, count: 256)
        for byte in 0x80..<256 { barriers[byte] = false }
        for text in tokens where text.unicodeScalars.count > 1 {
            for byte in text.utf8 where byte < 0x80 { barriers[Int(byte)] = false }
        }
        isBarrier = barriers
        self.scores = (0..<tokens.count).map { id in
            guard let scores, id < scores.count else { return 0 }
            return scores[id]
        }
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens = (0..<256).map { byte in
            let name: [UInt8] = [0x3C, 0x30, 0x78, hex[byte >> 4], hex[byte & 15], 0x3E]  // <0xXX>
            if let id = table.value(for: name) { return Int32(id) }
            if let id = table.value(for: [UInt8(byte)]) { return Int32(id) }
            return unknown ?? -1
        }
    }

    /// Encodes one fragment of raw text (no special tokens) into `output`.
    func encode(
        _ fragment: UnsafeBufferPointer<UInt8>, prefixSpace: Bool, into output: inout [Int32],
        scratch: inout Scratch
    ) {
        let escapedSpace: [UInt8] = [0xE2, 0x96, 0x81]
        scratch.text.removeAll(keepingCapacity: true)
        if prefixSpace { scratch.text.append(contentsOf: escapedSpace) }
        for byte in fragment {
            if byte == 0x20 { scratch.text.append(contentsOf: escapedSpace) } else { scratch.text.append(byte) }
        }
        let count = scratch.text.count
        var start = 0
        while start < count {
            var end = start
            while end < count && !isBarrier[Int(scratch.text[end])] { end += 1 }
            if end > start { encodePiece(start..<end, into: &output, scratch: &scratch) }
            if end < count { encodePiece(end..<end + 1, into: &output, scratch: &scratch) }
            start = end + 1
        }
    }

    /// The merge loop over `scratch.text[range]`.
    private func encodePiece(_ range: Range<Int>, into output: inout [Int32], scratch: inout Scratch) {
        splitCharacters(range, &scratch)
        let pieces = self.pieces
        let scores = self.scores
        scratch.text.withUnsafeBytes { text in
            scratch.starts.withUnsafeBufferPointer { starts in
                scratch.lengths.withUnsafeMutableBufferPointer { lengths in
                    scratch.previous.withUnsafeMutableBufferPointer { previous in
                        scratch.next.withUnsafeMutableBufferPointer { next in
                            func join(_ left: Int32, _ right: Int32) -> UnsafeRawBufferPointer {
                                let start = Int(starts[Int(left)])
                                let count = Int(lengths[Int(left)] + lengths[Int(right)])
                                return UnsafeRawBufferPointer(rebasing: text[start..<start + count])
                            }
                            func consider(_ left: Int32, _ right: Int32) {
                                guard let id = pieces.value(for: join(left, right)) else { return }
                                scratch.queue.push(
                                    .init(
                                        priority: MergeQueue.priority(score: scores[Int(id)], left: left),
                                        left: left, right: right,
                                        leftStamp: lengths[Int(left)], rightStamp: lengths[Int(right)]))
                            }
                            scratch.queue.removeAll()
                            for index in 0..<Int32(starts.count - 1) { consider(index, index + 1) }
                            while let candidate = scratch.queue.pop() {
                                let left = Int(candidate.left), right = Int(candidate.right)
                                guard lengths[left] > 0, lengths[right] > 0, lengths[left] == candidate.leftStamp,
                                    lengths[right] == candidate.rightStamp
                                else { continue }
                                lengths[left] += lengths[right]
                                lengths[right] = 0
                                next[left] = next[right]
                                if next[right] >= 0 { previous[Int(next[right])] = Int32(left) }
                                if previous[left] >= 0 { consider(previous[left], Int32(left)) }
                                if next[left] >= 0 { consider(Int32(left), next[left]) }
                            }
                            var index = 0
                            while index >= 0 {
                                let start = Int(starts[index])
                                let symbol = UnsafeRawBufferPointer(rebasing: text[start..<start + Int(lengths[index])])
                                if let id = pieces.value(for: symbol) {
                                    output.append(Int32(id))
                                } else {
                                    for byte in symbol where byteTokens[Int(byte)] >= 0 {
                                        output.append(byteTokens[Int(byte)])
                                    }
                                }
                                index = Int(next[index])
                            }
                        }
                    }
                }
            }
        }
    }

    /// One symbol per UTF-8 character; a stray byte is a character of its own, as in llama.cpp.
    private func splitCharacters(_ range: Range<Int>, _ scratch: inout Scratch) {
        scratch.starts.removeAll(keepingCapacity: true)
        scratch.lengths.removeAll(keepingCapacity: true)
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        let count = range.upperBound
        var offset = range.lowerBound
        while offset < count {
            let lead = scratch.text[offset]
            let length = UTF8Scanner.sequenceLength(lead)
            let clamped = min(length, count - offset)
            let index = Int32(scratch.starts.count)
            scratch.starts.append(Int32(offset))
            scratch.lengths.append(Int32(clamped))
            scratch.previous.append(index - 1)
            offset += clamped
            scratch.next.append(offset < count ? index + 1 : -1)
        }
    }
}
