/// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): pre-tokenize, then merge each word's bytes.
///
/// Symbols are identified by small integers: the id of a vocabulary token with that byte string,
/// or an id past the vocabulary for strings that occur in the merge list but not as tokens. A
/// merge joins two adjacent symbols; candidates wait in a heap ordered by merge rank, then by
/// position, exactly the order llama.cpp merges in, and stale candidates are skipped on pop.
/// Immutable after init (the word cache locks itself), so threads may share one encoder.
///
/// CLIP's vocabulary marks a word's last symbol with a suffix (`</w>`) instead of marking spaces.
/// With `endOfWordSuffix` set, the suffix is read as one extra byte, `endOfWordMarker`, which
/// valid UTF-8 never contains, so it cannot collide with text; `encode(markedWord:)` then starts
/// from the word's bytes with the marker joined to the last one, as CLIP's BPE does.
///
/// With `escapesSpaces` (Gemma 4's SentencePiece-style BPE) the same merge loop runs over raw
/// UTF-8 instead: token texts are their own bytes, spaces are written `▁` before splitting, a
/// word starts as one symbol per UTF-8 character, a leftover symbol is spelled with `<0xXX>`
/// byte tokens, and a run of newlines that is a token is taken whole.
// @unchecked Sendable: immutable after init; the symbol and merge tables are only read, and each call
// brings its own scratch.
final class ByteLevelBPEEncoder: @unchecked Sendable {
    let vocabularySize: Int
    let preTokenizer: PreTokenizer
    let ignoresMerges: Bool
    /// Raw UTF-8 symbols with spaces as `▁` (Gemma 4), instead of the GPT-2 byte alphabet.
    let escapesSpaces: Bool
    /// The vocabulary's end-of-word suffix (`</w>` for CLIP), or nil for GPT-2-style vocabularies.
    let endOfWordSuffix: String?
    /// The byte that stands for `endOfWordSuffix` in symbol byte strings.
    static let endOfWordMarker: UInt8 = 0xFF
    /// Raw bytes of every symbol (decoded from the byte-level alphabet) to its id.
    let symbols: ByteStringTable
    private let byteSymbols: [Int32]
    /// With `escapesSpaces`: the `<0xXX>` token of each byte, or -1.
    private let byteFallback: [Int32]
    private let merges: MergeRankTable
    private let cacheSlots: Int

    /// Scratch buffers for one `encode` call; reused across the words of a text.
    struct Scratch {
        var scalars: [UInt32] = []
        var classes: [UInt8] = []
        var byteOffsets: [Int32] = []
        var wordEnds: [Int32] = []
        var stageEnds: [Int32] = []
        var symbolIDs: [Int32] = []
        var symbolLengths: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var pairRanks: [Int32] = []
        var pairResults: [Int32] = []
        var queue = MergeQueue()
        /// The fragment with spaces written `▁` (with `escapesSpaces`).
        var escaped: [UInt8] = []
        /// Created on the first word of a call, sized to the text; nil when caching is off.
        var cache: WordCache?
    }

    /// - Parameter tokens: the vocabulary by id; a token outside the byte-level alphabet (a
    ///   placeholder for an unused id, say) can never be produced by merging.
    init(
        tokens: [String], merges mergeList: [String], preTokenizer: PreTokenizer, ignoresMerges: Bool,
        escapesSpaces: Bool = false, endOfWordSuffix: String? = nil, limits: TokenizerLimits
    ) {
        vocabularySize = tokens.count
        self.preTokenizer = preTokenizer
        self.ignoresMerges = ignoresMerges
        self.escapesSpaces = escapesSpaces
        self.endOfWordSuffix = endOfWordSuffix
        let suffix = Array((endOfWordSuffix ?? "").utf8)
        /// Decodes one symbol's vocabulary text, its end-of-word suffix (if any) as the marker.
        func decodeSymbol(_ utf8: UnsafeBufferPointer<UInt8>, appendingTo bytes: inout [UInt8]) -> Bool {
            if escapesSpaces {
                bytes.append(contentsOf: utf8)
                return true
            }
            if !suffix.isEmpty, utf8.count > suffix.count, utf8.suffix(suffix.count).elementsEqual(suffix) {
                guard
                    ByteLevelAlphabet.decode(
                        utf8: UnsafeBufferPointer(rebasing: utf8.dropLast(suffix.count)),
                        appendingTo: &bytes)
                else { return false }
                bytes.append(Self.endOfWordMarker)
                return true
            }
            return ByteLevelAlphabet.decode(utf8: utf8, appendingTo: &bytes)
        }
        let table = ByteStringTable(minimumCapacity: tokens.count + mergeList.count / 4)
        var buffer: [UInt8] = []
        for (id, text) in tokens.enumerated() {
            buffer.removeAll(keepingCapacity: true)
            var text = text
            let decoded = text.withUTF8 { decodeSymbol($0, appendingTo: &buffer) }
            if decoded { table.set(Int64(id), for: buffer) }
        }
        var nextSymbol = Int64(tokens.count)
        func symbol(_ bytes: UnsafeRawBufferPointer) -> Int32 {
            if let id = table.value(for: bytes) { return Int32(id) }
            table.set(nextSymbol, for: bytes)
            nextSymbol += 1
            return Int32(nextSymbol - 1)
        }
        var rankTable = MergeRankTable(capacity: mergeList.count)
        for (rank, line) in mergeList.enumerated() {
            var line = line
            line.withUTF8 { utf8 in
                // "A B": split at the first space after the first byte, as llama.cpp does. A part
                // outside the byte-level alphabet can never match a word: skip the merge.
                guard utf8.count >= 3, let space = utf8[1...].firstIndex(of: 0x20) else { return }
                buffer.removeAll(keepingCapacity: true)
                guard decodeSymbol(UnsafeBufferPointer(rebasing: utf8[..<space]), appendingTo: &buffer) else { return }
                let leftCount = buffer.count
                guard decodeSymbol(UnsafeBufferPointer(rebasing: utf8[(space + 1)...]), appendingTo: &buffer),
                    leftCount > 0, buffer.count > leftCount
                else { return }
                buffer.withUnsafeBytes { joined in
                    let leftID = symbol(UnsafeRawBufferPointer(rebasing: joined[..<leftCount]))
                    let rightID = symbol(UnsafeRawBufferPointer(rebasing: joined[leftCount...]))
                    let mergedID = symbol(joined)
                    rankTable.insert(left: leftID, right: rightID, merge: .init(rank: Int32(rank), merged: mergedID))
                }
            }
        }
        symbols = table
        merges = rankTable
        byteSymbols = (0..<256).map { byte in table.value(for: [UInt8(byte)]).map { Int32($0) } ?? -1 }
        let hex = Array("0123456789ABCDEF".utf8)
        byteFallback = (0..<256).map { byte in
            guard escapesSpaces else { return -1 }
            let name: [UInt8] = [0x3C, 0x30, 0x78, hex[byte >> 4], hex[byte & 15], 0x3E]  // <0xXX>
            return table.value(for: name).flatMap { $0 < tokens.count ? Int32($0) : nil } ?? -1
        }
        cacheSlots = limits.wordCacheEntries
    }

    /// Encodes one fragment of text (valid UTF-8 without special tokens) into `output`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        if escapesSpaces {
            encodeEscapingSpaces(text, into: &output, scratch: &scratch)
        } else {
            encodeWords(text, into: &output, scratch: &scratch)
        }
    }

    /// Pre-tokenizes `text` and encodes each word.
    func encodeWords(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        UTF8Scanner.decode(text, scalars: &scratch.scalars, classes: &scratch.classes, byteOffsets: &scratch.byteOffsets)
        scratch.scalars.withUnsafeBufferPointer { scalars in
            scratch.classes.withUnsafeBufferPointer { classes in
                preTokenizer.split(scalars, classes, into: &scratch.wordEnds, scratch: &scratch.stageEnds)
            }
        }
        if scratch.cache == nil && cacheSlots > 0 && scratch.wordEnds.count > 64 {
            // About one slot per four words of this text, within the configured maximum.
            scratch.cache = WordCache(slotCount: min(cacheSlots, scratch.wordEnds.count / 4))
        }
        var start = 0
        for index in scratch.wordEnds.indices {
            let end = Int(scratch.wordEnds[index])
            let byteStart = Int(scratch.byteOffsets[start])
            let byteEnd = Int(scratch.byteOffsets[end])
            encodeWord(UnsafeBufferPointer(rebasing: text[byteStart..<byteEnd]), into: &output, scratch: &scratch)
            start = end
        }
    }

    /// Encodes one pre-tokenized word of a vocabulary with an end-of-word suffix: `word` is the
    /// word's UTF-8 followed by `endOfWordMarker`.
    func encode(markedWord word: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        precondition(
            endOfWordSuffix != nil && word.count >= 2 && word.last == Self.endOfWordMarker,
            "a marked word is its bytes and the end-of-word marker")
        encodeWord(word, into: &output, scratch: &scratch)
    }

    private func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch) {
        let marksEnd = endOfWordSuffix != nil
        if word.count == 1 {
            appendSymbol(byteSymbols[Int(word[0])], bytes: word, into: &output)
            return
        }
        let raw = UnsafeRawBufferPointer(word)
        if let cache = scratch.cache, cache.append(raw, to: &output) { return }
        let outputStart = output.count
        if marksEnd && word.count == 2 {
            appendSymbol(symbols.value(for: raw).map { Int32($0) } ?? -1, bytes: word, into: &output)
        } else if ignoresMerges || (escapesSpaces && word.allSatisfy { $0 == 0x0A }),
            let id = symbols.value(for: raw), id < vocabularySize
        {
            output.append(Int32(id))
        } else {
            merge(word, marksEnd: marksEnd, into: &output, scratch: &scratch)
        }
        scratch.cache?.insert(raw, encoded: output[outputStart...])
    }

    /// Words up to this many bytes merge by scanning their pairs; longer ones use the heap.
    private static var scanningLimit: Int { 32 }

    /// The merge loop over one word of two or more symbols.
    ///
    /// Both strategies apply the same merges in the same order (lowest rank first, leftmost on
    /// ties): a short word rescans its few pairs after each merge, which beats heap upkeep; a
    /// long word keeps candidates in a heap, so it costs O(n log n), never O(n²).
    /// With `marksEnd`, the last byte of `word` is the end-of-word marker and belongs to the
    /// last symbol from the start.
    private func merge(
        _ word: UnsafeBufferPointer<UInt8>, marksEnd: Bool, into output: inout [Int32],
        scratch: inout Scratch
    ) {
        let count = marksEnd ? word.count - 1 : word.count
        scratch.symbolIDs.removeAll(keepingCapacity: true)
        scratch.symbolLengths.removeAll(keepingCapacity: true)
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.pairRanks.removeAll(keepingCapacity: true)
        scratch.pairResults.removeAll(keepingCapacity: true)
        for index in 0..<count {
            scratch.symbolIDs.append(byteSymbols[Int(word[index])])
            scratch.symbolLengths.append(1)
            scratch.previous.append(Int32(index - 1))
            scratch.next.append(index + 1 < count ? Int32(index + 1) : -1)
            scratch.pairRanks.append(Int32.max)
            scratch.pairResults.append(-1)
        }
        if marksEnd {
            let last = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(word)[(count - 1)...])
            scratch.symbolIDs[count - 1] = symbols.value(for: last).map { Int32($0) } ?? -1
            scratch.symbolLengths[count - 1] = 2
        }
        if escapesSpaces { joinCharacters(word, &scratch) }
        let merges = self.merges
        let scanning = count <= Self.scanningLimit
        withScratch(&scratch) { ids, lengths, previous, next, ranks, results, queue in
            if scanning {
                Self.mergeByScanning(count, merges, ids, lengths, previous, next, ranks, results)
            } else {
                Self.mergeWithQueue(count, merges, ids, lengths, previous, next, &queue)
            }
            var index = 0
            while index >= 0 {
                let bytes = UnsafeBufferPointer(rebasing: word[index..<index + Int(lengths[index])])
                appendSymbol(ids[index], bytes: bytes, into: &output)
                index = Int(next[index])
            }
        }
    }

    typealias Buffer = UnsafeMutableBufferPointer<Int32>

    private static func mergeByScanning(
        _ count: Int, _ merges: MergeRankTable, _ ids: Buffer, _ lengths: Buffer,
        _ previous: Buffer, _ next: Buffer, _ ranks: Buffer, _ results: Buffer
    ) {
        // ranks[i]: rank of merging symbol i with the one after it (Int32.max when none).
        func update(_ left: Int) {
            let right = Int(next[left])
            ranks[left] = Int32.max
            guard right >= 0, ids[left] >= 0, ids[right] >= 0,
                let merge = merges.merge(left: ids[left], right: ids[right])
            else { return }
            ranks[left] = merge.rank
            results[left] = merge.merged
        }
        var first = 0
        while next[first] >= 0 {
            update(first)
            first = Int(next[first])
        }
        while true {
            var best = Int32.max
            var bestIndex = -1
            var index = 0
            while index >= 0 {
                if ranks[index] < best {
                    best = ranks[index]
                    bestIndex = index
                }
                index = Int(next[index])
            }
            guard bestIndex >= 0 else { return }
            let right = Int(next[bestIndex])
            ids[bestIndex] = results[bestIndex]
            lengths[bestIndex] += lengths[right]
            lengths[right] = 0
            next[bestIndex] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(bestIndex) }
            update(bestIndex)
            if previous[bestIndex] >= 0 { update(Int(previous[bestIndex])) }
        }
    }

    private static func mergeWithQueue(
        _ count: Int, _ merges: MergeRankTable, _ ids: Buffer, _ lengths: Buffer,
        _ previous: Buffer, _ next: Buffer, _ queue: inout MergeQueue
    ) {
        queue.removeAll()
        func consider(_ left: Int32, _ right: Int32) {
            let leftID = ids[Int(left)], rightID = ids[Int(right)]
            guard leftID >= 0, rightID >= 0, let merge = merges.merge(left: leftID, right: rightID) else { return }
            queue.push(
                .init(
                    priority: MergeQueue.priority(rank: merge.rank, left: left), left: left, right: right,
                    leftStamp: leftID, rightStamp: rightID, result: merge.merged))
        }
        var first: Int32 = 0
        while next[Int(first)] >= 0 {
            consider(first, next[Int(first)])
            first = next[Int(first)]
        }
        while let candidate = queue.pop() {
            let left = Int(candidate.left), right = Int(candidate.right)
            // Skip candidates whose symbols have changed since they were pushed.
            guard lengths[left] > 0, lengths[right] > 0, next[left] == candidate.right,
                ids[left] == candidate.leftStamp, ids[right] == candidate.rightStamp
            else { continue }
            ids[left] = candidate.result
            lengths[left] += lengths[right]
            lengths[right] = 0
            next[left] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(left) }
            if previous[left] >= 0 { consider(previous[left], Int32(left)) }
            if next[left] >= 0 { consider(Int32(left), next[left]) }
        }
    }

    /// Runs `body` over the scratch arrays as raw buffers, avoiding bounds checks and copies.
    private func withScratch(
        _ scratch: inout Scratch,
        _ body: (Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, inout MergeQueue) -> Void
    ) {
        scratch.symbolIDs.withUnsafeMutableBufferPointer { ids in
            scratch.symbolLengths.withUnsafeMutableBufferPointer { lengths in
                scratch.previous.withUnsafeMutableBufferPointer { previous in
                    scratch.next.withUnsafeMutableBufferPointer { next in
                        scratch.pairRanks.withUnsafeMutableBufferPointer { ranks in
                            scratch.pairResults.withUnsafeMutableBufferPointer { results in
                                body(ids, lengths, previous, next, ranks, results, &scratch.queue)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Emits a finished symbol. One that is not a vocabulary token falls back, like llama.cpp, to
    /// the single-character tokens of its printable ASCII bytes; other bytes are dropped. Raw
    /// symbols fall back to the `<0xXX>` tokens of their bytes instead.
    @inline(__always)
    private func appendSymbol(_ id: Int32, bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        if id >= 0 && Int(id) < vocabularySize {
            output.append(id)
            return
        }
        if escapesSpaces {
            for byte in bytes where byteFallback[Int(byte)] >= 0 { output.append(byteFallback[Int(byte)]) }
            return
        }
        for byte in bytes where (0x21...0x7E).contains(byte) {
            let single = byteSymbols[Int(byte)]
            if single >= 0 && Int(single) < vocabularySize { output.append(single) }
        }
    }
}
