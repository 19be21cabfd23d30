/// The character classes that the pre-tokenizer scanners test, per Unicode scalar.
///
/// The classes follow llama.cpp's `unicode_cpt_flags`: a letter is any `L*` general category, a
/// number any `N*`, punctuation any `P*`, a mark any `M*`, and whitespace is the Unicode `White_Space` set that
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
    /// A combining mark (`M*`), which Qwen 3.5's expression joins to letters.
    static var mark: CodepointClass { CodepointClass(rawValue: 1 << 5) }
    /// Set for every scalar inside the text being scanned; empty means "outside the piece".
    static var assigned: CodepointClass { CodepointClass(rawValue: 1 << 7) }

    static var letterNumberOrSpace: CodepointClass { CodepointClass(rawValue: 0b111) }
}

/// Looks up `CodepointClass` for Unicode scalars.
///
/// llama.cpp's tables were generated from Unicode 15.1, while the standard library may know a
/// newer version; scalars assigned after 15.1 are classified as unassigned, as llama.cpp sees them,
/// so that text using them splits the same way.
///
/// The first four planes (every assigned letter, number and emoji of Unicode 15.1 but the tag
/// and private-use planes) are a 256 KiB table built once from the standard library's
/// `Unicode.Scalar.Properties` (about 20 ms); scalars above it ask the standard library directly.
enum UnicodeClassifier {
    /// Scalars below this are looked up in `table`.
    static var tableSize: UInt32 { 0x40000 }

    /// One byte per scalar below `tableSize`. Allocated once and never freed: it lives as long as the process.
    /// Written only inside this initializer, which Swift runs once (thread-safely) before any read;
    /// read-only after that, so sharing the pointer across threads is safe.
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(tableSize))
        for value in 0..<tableSize {
            table[Int(value)] = classify(value).rawValue
        }
        return UnsafePointer(table)
    }()

    /// Computes the class of one scalar from the standard library's Unicode properties.
    static func classify(_ value: UInt32) -> CodepointClass {
        guard let scalar = Unicode.Scalar(value) else { return .assigned }  // surrogates never occur in a String
        var result: CodepointClass = .assigned
        if isWhitespace(value) { result.insert(.whitespace) }
        guard let age = scalar.properties.age, age <= unicodeVersion else { return result }
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
        case .nonspacingMark, .spacingMark, .enclosingMark:
            result.insert(.mark)
        default:
            break
        }
        return result
    }

    /// The Unicode version of llama.cpp's character tables.
    static let unicodeVersion: Unicode.Version = (major: 15, minor: 1)

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
