/// Decodes UTF-8 text into the arrays the pre-tokenizer scans.
enum UTF8Scanner {
    /// The length of the UTF-8 sequence that `lead` starts, as llama.cpp's `unicode_len_utf8`
    /// counts it (a stray continuation byte is a sequence of one).
    @inline(__always)
    static func sequenceLength(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// Fills `scalars` and `classes` with one entry per scalar of `text`, and `byteOffsets` with
    /// each scalar's byte offset plus a final entry equal to `text.count`.
    ///
    /// `text` comes from a Swift `String` and is valid UTF-8; a truncated sequence at the end
    /// (impossible from a `String`, but cheap to guard) becomes U+FFFD, as in llama.cpp.
    static func decode(
        _ text: UnsafeBufferPointer<UInt8>, scalars: inout [UInt32], classes: inout [UInt8],
        byteOffsets: inout [Int32]
    ) {
        let count = text.count
        // At most one scalar per byte: size the arrays once, then write through pointers.
        resize(&scalars, to: count)
        resize(&classes, to: count)
        resize(&byteOffsets, to: count + 1)
        let table = UnicodeClassifier.table
        var produced = 0
        scalars.withUnsafeMutableBufferPointer { scalars in
            classes.withUnsafeMutableBufferPointer { classes in
                byteOffsets.withUnsafeMutableBufferPointer { offsets in
                    var offset = 0
                    while offset < count {
                        let lead = UInt32(text[offset])
                        var value = lead
                        var length = 1
                        if lead >= 0x80 {
                            if lead < 0xE0 {
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
                                for continuation in 1..<length {
                                    value = value << 6 | UInt32(text[offset + continuation] & 0x3F)
                                }
                            }
                        }
                        scalars[produced] = value
                        classes[produced] =
                            value < 0x40000  // UnicodeClassifier.tableSize
                            ? table[Int(value)]
                            : UnicodeClassifier.classify(value).rawValue
                        offsets[produced] = Int32(offset)
                        produced += 1
                        offset += length
                    }
                    offsets[produced] = Int32(count)
                }
            }
        }
        scalars.removeLast(count - produced)
        classes.removeLast(count - produced)
        byteOffsets.removeLast(count - produced)
    }

    /// Sets `array.count` to `count`, reusing its storage (new elements are zero).
    private static func resize<T: FixedWidthInteger>(_ array: inout [T], to count: Int) {
        if array.count > count {
            array.removeLast(array.count - count)
        } else if array.count < count {
            array.append(contentsOf: repeatElement(0, count: count - array.count))
        }
    }
}
