/// Splits a range of code points into sequences of byte ranges whose concatenation matches exactly
/// the UTF-8 encodings of the range, so that character classes become byte-level alternatives
/// (the method of Rust's `regex-syntax` `Utf8Sequences`). Surrogates (U+D800–U+DFFF) are left out:
/// they have no UTF-8 encoding.
enum UTF8Sequences {
    /// One UTF-8 sequence shape: for each byte, an inclusive range.
    typealias Sequence = [ClosedRange<UInt8>]

    static func sequences(lower: UInt32, upper: UInt32) -> [Sequence] {
        var result: [Sequence] = []
        var pending: [(UInt32, UInt32)] = [(lower, min(upper, 0x10FFFF))]
        while let (start, end) = pending.popLast() {
            if start > end { continue }
            // Take out the surrogates.
            if start <= 0xDFFF && end >= 0xD800 {
                pending.append((0xE000, end))
                if start < 0xD800 { pending.append((start, 0xD7FF)) }
                continue
            }
            // Split at the boundaries where the encoded length changes.
            var split = false
            for boundary: UInt32 in [0x7F, 0x7FF, 0xFFFF] where start <= boundary && end > boundary {
                pending.append((boundary + 1, end))
                pending.append((start, boundary))
                split = true
                break
            }
            if split { continue }
            let length = start <= 0x7F ? 1 : start <= 0x7FF ? 2 : start <= 0xFFFF ? 3 : 4
            if length == 1 {
                result.append([UInt8(start)...UInt8(end)])
                continue
            }
            // Split until every continuation byte spans its full range or a single prefix.
            for index in 1..<length {
                let mask: UInt32 = (1 << (6 * UInt32(index))) - 1
                if start & ~mask != end & ~mask {
                    if start & mask != 0 {
                        pending.append(((start | mask) + 1, end))
                        pending.append((start, start | mask))
                        split = true
                        break
                    }
                    if end & mask != mask {
                        pending.append((end & ~mask, end))
                        pending.append((start, (end & ~mask) - 1))
                        split = true
                        break
                    }
                }
            }
            if split { continue }
            let low = encode(start)
            let high = encode(end)
            result.append(zip(low, high).map { $0...$1 })
        }
        return result
    }

    static func encode(_ codePoint: UInt32) -> [UInt8] {
        switch codePoint {
        case 0..<0x80: return [UInt8(codePoint)]
        case 0x80..<0x800: return [UInt8(0xC0 | codePoint >> 6), UInt8(0x80 | codePoint & 0x3F)]
        case 0x800..<0x10000:
            return [UInt8(0xE0 | codePoint >> 12), UInt8(0x80 | (codePoint >> 6) & 0x3F), UInt8(0x80 | codePoint & 0x3F)]
        default:
            return [
                UInt8(0xF0 | codePoint >> 18), UInt8(0x80 | (codePoint >> 12) & 0x3F), UInt8(0x80 | (codePoint >> 6) & 0x3F),
                UInt8(0x80 | codePoint & 0x3F),
            ]
        }
    }
}
