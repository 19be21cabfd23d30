import Foundation

/// BERT's text normaliser, as Hugging Face's `BertNormalizer` runs it, over UTF-8 bytes.
///
/// The steps, in Hugging Face's order, each switched by an option:
/// 1. `cleanText`: drop U+0000, U+FFFD and every `C*` character (control, format, private use)
///    except tab, newline and carriage return; map every `White_Space` character to a space.
///    Unassigned code points are kept, as Hugging Face keeps them.
/// 2. `handleChineseCharacters`: put a space on both sides of each CJK ideograph, so that the
///    pre-tokenizer makes each one a word.
/// 3. `stripAccents`: canonical decomposition (NFD), then drop nonspacing marks (`Mn`), so that
///    "Ångström" becomes "Angstrom" and a Hangul syllable becomes its jamo.
/// 4. `lowercase`: each character's full lowercase mapping, without context (Σ becomes σ).
///
/// Hugging Face takes the `Mn`, `C*` and `P*` categories from the `unicode_categories` crate,
/// whose tables are Unicode 8.0: a mark, format character or punctuation assigned since is none
/// of them there (U+0898 ARABIC SMALL HIGH WORD AL-JUZ is kept, not stripped). `classes(of:)`
/// reproduces that by ignoring the category of characters newer than 8.0; case mapping,
/// whitespace and NFD follow current Unicode, as in Hugging Face.
///
/// ASCII takes a fast path that never leaves the byte buffer; a run of non-ASCII bytes is
/// decoded into one `String` (NFD needs the run: marks reorder among themselves), so the
/// allocations are per run of non-ASCII text, not per character.
struct BertNormalizer: Sendable {
    var cleanText = true
    var handleChineseCharacters = true
    var stripAccents = true
    var lowercase = true

    /// Whether the normaliser changes nothing at all (Hugging Face's `normalizer: null`).
    var isIdentity: Bool { !cleanText && !handleChineseCharacters && !stripAccents && !lowercase }

    /// Appends the normalised form of `text` (valid UTF-8) to `output`.
    func normalize(_ text: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + text.count + text.count / 4)
        var index = 0
        let count = text.count
        while index < count {
            let byte = text[index]
            if byte < 0x80 {
                appendASCII(byte, to: &output)
                index += 1
                continue
            }
            var end = index + 1
            while end < count && text[end] >= 0x80 { end += 1 }
            appendNonASCII(UnsafeBufferPointer(rebasing: text[index..<end]), to: &output)
            index = end
        }
    }

    @inline(__always)
    private func appendASCII(_ byte: UInt8, to output: inout [UInt8]) {
        if cleanText {
            // Tab, newline and carriage return count as whitespace; the other C0 controls,
            // U+0000 and DEL are `Cc` and go.
            if byte == 0x09 || byte == 0x0A || byte == 0x0D {
                output.append(0x20)
                return
            }
            if byte < 0x20 || byte == 0x7F { return }
        }
        if lowercase && byte >= 0x41 && byte <= 0x5A {
            output.append(byte | 0x20)
        } else {
            output.append(byte)
        }
    }

    private func appendNonASCII(_ run: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        var cleaned = String.UnicodeScalarView()
        for scalar in String(decoding: run, as: UTF8.self).unicodeScalars {
            if cleanText {
                if scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
                if Self.isWhitespace(scalar.value) {
                    cleaned.append(" ")
                    continue
                }
            }
            if handleChineseCharacters && Self.isChineseCharacter(scalar.value) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var scalars = String(cleaned).unicodeScalars
        if stripAccents {
            scalars = String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
        }
        for scalar in scalars {
            if stripAccents && Self.classes(of: scalar.value) & Self.nonspacingMark != 0 { continue }
            if lowercase && scalar.properties.changesWhenLowercased {
                output.append(contentsOf: scalar.properties.lowercaseMapping.utf8)
            } else {
                Self.appendUTF8(scalar, to: &output)
            }
        }
    }

    /// Hugging Face's `is_control`: the `C*` categories that are assigned (`Cc`, `Cf`, `Co`,
    /// `Cs`); tab, newline and carriage return are whitespace instead.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        default: return classes(of: scalar.value) & control != 0
        }
    }

    /// Hugging Face's `is_bert_punc` beyond ASCII: a `P*` character (of Unicode 8.0).
    static func isPunctuation(_ value: UInt32) -> Bool { classes(of: value) & punctuation != 0 }

    static var control: UInt8 { 1 }
    static var nonspacingMark: UInt8 { 2 }
    static var punctuation: UInt8 { 4 }
    /// The last Unicode version of Hugging Face's category tables.
    static let categoryVersion: Unicode.Version = (major: 8, minor: 0)

    /// The bits above for one scalar: from `table` in the Basic Multilingual Plane, where
    /// nearly all text lives, else from the standard library's properties.
    @inline(__always)
    static func classes(of value: UInt32) -> UInt8 {
        value < 0x10000 ? table[Int(value)] : computeClasses(value)
    }

    /// One byte per BMP scalar, built once (about 65,000 property look-ups) and never freed.
    /// Written only inside this initializer, which Swift runs once (thread-safely) before any
    /// read; read-only after that, so sharing the pointer across threads is safe.
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for value in 0..<UInt32(0x10000) { table[Int(value)] = computeClasses(value) }
        return UnsafePointer(table)
    }()

    static func computeClasses(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return control }  // surrogates are `Cs`
        guard let age = scalar.properties.age, age <= categoryVersion else { return 0 }
        // Marks whose category changed after 8.0 (found by the every-code-point test): Hanunoo
        // pamudpod was `Mn`; two Mongolian Ali Gali letters were `Lo`, Javanese keret was `Mc`.
        switch value {
        case 0x1734: return nonspacingMark
        case 0x1885, 0x1886, 0xA9BD: return 0
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse: return control
        case .nonspacingMark: return nonspacingMark
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return punctuation
        default: return 0
        }
    }

    /// The `White_Space` property (Rust's `char::is_whitespace`, llama.cpp's list).
    static func isWhitespace(_ value: UInt32) -> Bool { UnicodeClassifier.isWhitespace(value) }

    /// The CJK ideograph blocks of BERT's original code (and Hugging Face's, whose Extension C–F
    /// range starts at U+2B920 rather than U+2B820).
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    @inline(__always)
    static func appendUTF8(_ scalar: Unicode.Scalar, to output: inout [UInt8]) {
        let value = scalar.value
        switch value {
        case 0..<0x80:
            output.append(UInt8(value))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | value >> 6))
            output.append(UInt8(0x80 | value & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | value >> 12))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        default:
            output.append(UInt8(0xF0 | value >> 18))
            output.append(UInt8(0x80 | (value >> 12) & 0x3F))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        }
    }
}
