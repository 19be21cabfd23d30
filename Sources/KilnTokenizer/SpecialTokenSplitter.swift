#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finds special tokens such as `<|im_start|>` in raw text and cuts the text around them.
///
/// This follows llama.cpp's `tokenizer_st_partition`: special tokens are tried longest first, and
/// each one splits every remaining text fragment at all of its occurrences, left to right. Control
/// and unknown tokens are only recognised when the caller asks for it (`parseSpecial`);
/// user-defined tokens always are. A token marked to strip whitespace takes the spaces beside it.
/// A trie over all special texts first finds which tokens occur at all, so text without any costs
/// one pass over its bytes.
struct SpecialTokenSplitter: Sendable {
    /// One piece of the input: raw text (a byte range of it) or a special token.
    enum Fragment: Equatable, Sendable {
        case text(Range<Int>)
        case token(Int32)
    }

    struct Special: Sendable {
        var id: Int32
        var bytes: [UInt8]
        /// Control and unknown tokens are matched only when the caller parses specials.
        var needsParseSpecial: Bool
        var stripsLeft: Bool
        var stripsRight: Bool
    }

    private let specials: [Special]
    private let isFirstByte: [Bool]
    // The trie: node 0 is the root; children are kept as short parallel arrays.
    private var childBytes: [[UInt8]] = [[]]
    private var childNodes: [[Int32]] = [[]]
    private var endingHere: [[Int32]] = [[]]  // indices into `specials`

    /// `specials` in any order; they are sorted longest first (ties by id) as llama.cpp does.
    init(specials: [Special]) {
        let sorted = specials.filter { !$0.bytes.isEmpty }.sorted {
            $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id
        }
        self.specials = sorted
        var firsts = [Bool](repeating: false, count: 256)
        for special in sorted { firsts[Int(special.bytes[0])] = true }
        isFirstByte = firsts
        for (index, special) in sorted.enumerated() { insert(special.bytes, index: Int32(index)) }
    }

    var isEmpty: Bool { specials.isEmpty }

    private mutating func insert(_ bytes: [UInt8], index: Int32) {
        var node = 0
        for byte in bytes {
            if let slot = childBytes[node].firstIndex(of: byte) {
                node = Int(childNodes[node][slot])
            } else {
                childBytes.append([])
                childNodes.append([])
                endingHere.append([])
                let created = childBytes.count - 1
                childBytes[node].append(byte)
                childNodes[node].append(Int32(created))
                node = created
            }
        }
        endingHere[node].append(index)
    }

    /// Splits `text` into fragments. With no special token in it, the result is one text fragment.
    func split(_ text: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        guard text.count > 0 else { return [] }
        var fragments: [Fragment] = [.text(0..<text.count)]
        guard !specials.isEmpty else { return fragments }
        let present = occurringSpecials(text)
        guard !present.isEmpty else { return fragments }
        for index in present {
            let special = specials[index]
            if special.needsParseSpecial && !parseSpecial { continue }
            var next: [Fragment] = []
            next.reserveCapacity(fragments.count + 2)
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    next.append(fragment)
                    continue
                }
                cut(range, at: special, in: text, into: &next)
            }
            fragments = next
        }
        return fragments
    }

    /// Indices (in priority order) of the special tokens that occur anywhere in `text`.
    private func occurringSpecials(_ text: UnsafeBufferPointer<UInt8>) -> [Int] {
        var found = [Bool](repeating: false, count: specials.count)
        var any = false
        for start in 0..<text.count where isFirstByte[Int(text[start])] {
            var node = 0
            var position = start
            while position < text.count, let slot = childBytes[node].firstIndex(of: text[position]) {
                node = Int(childNodes[node][slot])
                position += 1
                for index in endingHere[node] {
                    found[Int(index)] = true
                    any = true
                }
            }
        }
        guard any else { return [] }
        return found.indices.filter { found[$0] }
    }

    /// Cuts one text fragment at every occurrence of `special`, left to right.
    private func cut(
        _ range: Range<Int>, at special: Special, in text: UnsafeBufferPointer<UInt8>,
        into output: inout [Fragment]
    ) {
        var start = range.lowerBound
        let end = range.upperBound
        while let match = find(special.bytes, in: text, from: start, to: end) {
            var leftEnd = match
            if special.stripsLeft {
                while leftEnd > start && Self.isSpace(text[leftEnd - 1]) { leftEnd -= 1 }
            }
            if leftEnd > start { output.append(.text(start..<leftEnd)) }
            output.append(.token(special.id))
            start = match + special.bytes.count
            if special.stripsRight {
                while start < end && Self.isSpace(text[start]) { start += 1 }
            }
        }
        if start < end { output.append(.text(start..<end)) }
    }

    /// The first occurrence of `needle` within `text[from..<to]`.
    private func find(_ needle: [UInt8], in text: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        let length = needle.count
        guard to - from >= length, let base = text.baseAddress else { return nil }
        let first = Int32(needle[0])
        return needle.withUnsafeBufferPointer { needle -> Int? in
            var position = from
            while position + length <= to {
                guard let hit = memchr(base + position, first, to - length + 1 - position) else { return nil }
                let offset = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
                if memcmp(base + offset, needle.baseAddress!, length) == 0 { return offset }
                position = offset + 1
            }
            return nil
        }
    }

    /// C's `isspace` in the "C" locale, which llama.cpp uses for stripping.
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
