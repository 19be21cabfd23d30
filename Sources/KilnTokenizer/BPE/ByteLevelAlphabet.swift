/// GPT-2's reversible mapping between bytes and printable Unicode scalars.
///
/// Byte-level BPE vocabularies store every token as text in which each byte of the original
/// UTF-8 is one printable scalar: the printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to
/// themselves and the other 68 bytes to U+0100 onwards, in byte order. So `Ġ` (U+0120) stands for
/// a space and `Ċ` (U+010A) for a newline.
enum ByteLevelAlphabet {
    /// `scalarForByte[b]` is the scalar that stands for byte `b`.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// `byteForScalar[s]` for `s < 324` is the byte that scalar stands for, or -1.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, scalar) in scalarForByte.enumerated() {
            table[Int(scalar)] = Int16(byte)
        }
        return table
    }()

    private static func isPrintable(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// Decodes vocabulary text straight from its UTF-8, appending the bytes it stands for; false
    /// (with `bytes` partly filled) when a scalar is outside the alphabet. Every scalar of the
    /// alphabet is below U+0144, so one or two UTF-8 bytes each.
    static func decode(utf8 text: UnsafeBufferPointer<UInt8>, appendingTo bytes: inout [UInt8]) -> Bool {
        let table = byteForScalar
        var pendingLead: UInt32 = 0
        for unit in text {
            var scalar: UInt32
            if pendingLead != 0 {
                guard unit & 0xC0 == 0x80 else { return false }
                scalar = (pendingLead & 0x1F) << 6 | UInt32(unit & 0x3F)
                pendingLead = 0
            } else if unit < 0x80 {
                scalar = UInt32(unit)
            } else if unit & 0xE0 == 0xC0 {
                pendingLead = UInt32(unit)
                continue
            } else {
                return false  // three- and four-byte scalars are all outside the alphabet
            }
            guard scalar < 324, table[Int(scalar)] >= 0 else { return false }
            bytes.append(UInt8(table[Int(scalar)]))
        }
        return pendingLead == 0
    }

    /// `decode(utf8:appendingTo:)` for a string.
    static func decode(_ text: String, appendingTo bytes: inout [UInt8]) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable({ decode(utf8: $0, appendingTo: &bytes) }) {
            return result
        }
        return Array(text.utf8).withUnsafeBufferPointer { decode(utf8: $0, appendingTo: &bytes) }
    }

    /// Decodes a vocabulary string for display the way llama.cpp does: scalars outside the
    /// alphabet become a visible `[UNK_BYTE_0x…]` marker instead of failing.
    static func decodeLeniently(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            if value < byteForScalar.count, byteForScalar[value] >= 0 {
                bytes.append(UInt8(byteForScalar[value]))
            } else {
                var marker = "[UNK_BYTE_0x"
                for byte in String(scalar).utf8 { marker += hex(byte) }
                marker += text + "]"
                bytes.append(contentsOf: marker.utf8)
            }
        }
        return bytes
    }

    /// Encodes raw bytes as vocabulary text (the inverse of `decode`).
    static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(Unicode.Scalar(scalarForByte[Int(byte)])!) }
        return String(text)
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
