/// SentencePiece's precompiled normaliser (`tokenizer.ggml.precompiled_charsmap`): a map from
/// byte strings to replacement strings (NFKC and the like, compiled by SentencePiece).
///
/// The blob is a little-endian `UInt32` byte count, that many bytes of a XOR-compressed compact
/// double array (Kanda 2018) whose entries pack BASE (bits 10–30, shifted by bit 9), LCHECK
/// (bits 0–7 and 31) and LEAF (bit 8), and then the replacements as NUL-terminated strings.
/// `longestMatch` walks the array from the root as SentencePiece (and llama.cpp) do. The
/// file is untrusted: an index out of range ends the walk instead of reading past the blob.
struct PrecompiledCharsmap: Sendable {
    private let nodes: [UInt32]
    private let replacements: [UInt8]

    /// Reads the blob; nil when it is too short for its own header.
    init?(_ blob: [UInt8]) {
        guard blob.count >= 4 else { return nil }
        let size = Int(blob[0]) | Int(blob[1]) << 8 | Int(blob[2]) << 16 | Int(blob[3]) << 24
        guard size % 4 == 0, 4 + size <= blob.count else { return nil }
        nodes = stride(from: 4, to: 4 + size, by: 4).map { offset in
            UInt32(blob[offset]) | UInt32(blob[offset + 1]) << 8 | UInt32(blob[offset + 2]) << 16
                | UInt32(blob[offset + 3]) << 24
        }
        replacements = Array(blob[(4 + size)...])
    }

    /// The longest byte string of the map that `text[start...]` begins with: its length and
    /// the range of its replacement in `replacementBytes`; nil when none matches.
    func longestMatch(in text: UnsafeBufferPointer<UInt8>, from start: Int) -> (length: Int, replacement: Range<Int>)? {
        guard !nodes.isEmpty else { return nil }
        @inline(__always) func base(_ node: UInt32) -> Int { Int((node >> 10) << ((node & (1 << 9)) >> 6)) }
        var index = base(nodes[0])
        var longest = 0
        var replacementStart = 0
        var position = start
        while position < text.count {
            let byte = text[position]
            if byte == 0 { break }
            index ^= Int(byte)
            guard index < nodes.count, nodes[index] & ((1 << 31) | 0xFF) == UInt32(byte) else { break }
            let isLeaf = (nodes[index] >> 8) & 1 == 1
            index ^= base(nodes[index])
            if isLeaf {
                guard index < nodes.count else { break }
                longest = position - start + 1
                replacementStart = Int(nodes[index] & ((1 << 31) - 1))
            }
            position += 1
        }
        guard longest > 0, replacementStart < replacements.count,
            let end = replacements[replacementStart...].firstIndex(of: 0)
        else { return nil }
        return (longest, replacementStart..<end)
    }

    /// The replacement strings, indexed by the ranges `longestMatch` returns.
    var replacementBytes: [UInt8] { replacements }
}
