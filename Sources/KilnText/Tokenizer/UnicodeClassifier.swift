/// The character classes that the pre-tokenizer scanners test, per Unicode scalar.
///
/// The classes follow llama.cpp's `unicode_cpt_flags`: a letter is any `L*` general category, a
/// number any `N*`, punctuation any `P*`, and whitespace is the Unicode `White_Space` set that
/// llama.cpp hard-codes (not the `Z*` categories). Every scalar in range carries at least
/// `assigned`, so that "not whitespace, letter or number" can be told apart from "past the end".
struct CodepointClass: OptionSet, Sendable {
    let rawValue: UInt8

    // Computed rather than stored: a stored static would cost a lazy-initialisation check on
    // every use in the scanners' inner loops.
    static var letter: CodepointClass { CodepointClass(rawValue: 1 << 0) }
    static var number: CodepointClass { CodepointClass(rawValue: 1 << 1) }
    static var whitespace: CodepointClass { CodepointClass(rawValue: 1 << 2) }
    static var punctuation: CodepointClass { CodepointClass(rawValue: 1 << 3) }
    static var symbol: CodepointClass { CodepointClass(rawValue: 1 << 4) }
    /// Set for every scalar inside the text being scanned; empty means "outside the piece".
    static var assigned: CodepointClass { CodepointClass(rawValue: 1 << 7) }

    static var letterNumberOrSpace: CodepointClass { CodepointClass(rawValue: 0b111) }
}

/// Looks up `CodepointClass` for Unicode scalars.
///
/// The basic multilingual plane is a 64 KiB table built once from the standard library's
/// `Unicode.Scalar.Properties.generalCategory` (a few milliseconds); scalars above it, which are
/// rare in text, ask the standard library directly.
enum UnicodeClassifier {
    /// One byte per scalar below U+10000. Allocated once and never freed: it lives as long as the process.
    static let basicPlane: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for value in 0..<UInt32(0x10000) {
            table[Int(value)] = classify(value).rawValue
        }
        return UnsafePointer(table)
    }()

    /// The class of `value`, using the table for the basic plane.
    @inline(__always)
    static func classOf(_ value: UInt32, table: UnsafePointer<UInt8>) -> CodepointClass {
        if value < 0x10000 { return CodepointClass(rawValue: table[Int(value)]) }
        return classify(value)
    }

    /// Computes the class of one scalar from the standard library's Unicode properties.
    static func classify(_ value: UInt32) -> CodepointClass {
        guard let scalar = Unicode.Scalar(value) else { return .assigned }  // surrogates never occur in a String
        var result: CodepointClass = .assigned
        if isWhitespace(value) { result.insert(.whitespace) }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            result.insert(.symbol)
        default:
            break
        }
        return result
    }

    /// The `White_Space` set as llama.cpp lists it.
    static func isWhitespace(_ value: UInt32) -> Bool {
        switch value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
