/// Decodes UTF-8 text into the arrays the pre-tokenizer scans.
enum UTF8Scanner {
    /// Fills `scalars` and `classes` with one entry per scalar of `text`, and `byteOffsets` with
    /// each scalar's byte offset plus a final entry equal to `text.count`.
    ///
    /// `text` comes from a Swift `String` and is valid UTF-8; a truncated sequence at the end
    /// (impossible from a `String`, but cheap to guard) becomes U+FFFD, as in llama.cpp.
    static func decode(_ text: UnsafeBufferPointer<UInt8>, scalars: inout [UInt32], classes: inout [UInt8],
                       byteOffsets: inout [Int32]) {
        scalars.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        byteOffsets.removeAll(keepingCapacity: true)
        scalars.reserveCapacity(text.count)
        classes.reserveCapacity(text.count)
        byteOffsets.reserveCapacity(text.count + 1)
        let table = UnicodeClassifier.basicPlane
        let count = text.count
        var offset = 0
        while offset < count {
            let lead = UInt32(text[offset])
            var value: UInt32
            var length: Int
            if lead < 0x80 {
                value = lead
                length = 1
            } else if lead < 0xE0 {
                value = lead & 0x1F
                length = 2
            } else if lead < 0xF0 {
                value = lead & 0x0F
                length = 3
            } else {
                value = lead & 0x07
                length = 4
            }
            if offset + length > count || lead & 0xC0 == 0x80 {
                value = 0xFFFD
                length = 1
            } else {
                for continuation in 1..<length { value = value << 6 | UInt32(text[offset + continuation] & 0x3F) }
            }
            scalars.append(value)
            classes.append(UnicodeClassifier.classOf(value, table: table).rawValue)
            byteOffsets.append(Int32(offset))
            offset += length
        }
        byteOffsets.append(Int32(count))
    }
}
