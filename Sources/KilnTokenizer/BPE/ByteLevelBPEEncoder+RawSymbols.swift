/// Gemma 4's raw symbols: escaping spaces as `▁` and one starting symbol per UTF-8 character.
extension ByteLevelBPEEncoder {
    /// Writes each space of `text` as `▁` (into `scratch.escaped`), then encodes its words.
    func encodeEscapingSpaces(
        _ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32], scratch: inout Scratch
    ) {
        // Moved out of `scratch` while it is read, so that `scratch` stays free to pass on.
        var escaped: [UInt8] = []
        swap(&escaped, &scratch.escaped)
        defer { swap(&escaped, &scratch.escaped) }
        escaped.removeAll(keepingCapacity: true)
        for byte in text {
            if byte == 0x20 {
                escaped.append(0xE2)
                escaped.append(0x96)
                escaped.append(0x81)
            } else {
                escaped.append(byte)
            }
        }
        escaped.withUnsafeBufferPointer { encodeWords($0, into: &output, scratch: &scratch) }
    }

    /// Makes each UTF-8 character of `word` one symbol (raw symbols): the symbol sits at the
    /// character's first byte, the other bytes are left out of the chain.
    func joinCharacters(_ word: UnsafeBufferPointer<UInt8>, _ scratch: inout Scratch) {
        let count = word.count
        var start = 0
        var previousStart = -1
        while start < count {
            let lead = word[start]
            let length = min(UTF8Scanner.sequenceLength(lead), count - start)
            if length > 1 {
                let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(word)[start..<start + length])
                scratch.symbolIDs[start] = symbols.value(for: bytes).map { Int32($0) } ?? -1
                for inner in start + 1..<start + length {
                    scratch.symbolIDs[inner] = -1
                    scratch.symbolLengths[inner] = 0
                }
            }
            scratch.symbolLengths[start] = Int32(length)
            scratch.previous[start] = Int32(previousStart)
            if previousStart >= 0 { scratch.next[previousStart] = Int32(start) }
            previousStart = start
            start += length
        }
        scratch.next[previousStart] = -1
    }
}
