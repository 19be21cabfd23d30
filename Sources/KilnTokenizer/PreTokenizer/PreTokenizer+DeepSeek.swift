/// DeepSeek's pre-tokenizers: a chain of simple expressions, each splitting the pieces the
/// previous one produced, as llama.cpp applies them (llama-cpp-python 0.3.36):
///
/// | stage | DeepSeek Coder | DeepSeek LLM |
/// |---|---|---|
/// | 1 | `[\r\n]` | `[\r\n]` |
/// | 2 | `\s?\p{L}+` | `\s?[A-Za-zµÀ-ÖØ-ö…]+` (`DeepSeekCharacters.isLetter`) |
/// | 3 | `\s?\p{P}+` | `\s?[!-/:-~！-／：-～‘-‟　-。]+` (`DeepSeekCharacters.isPunctuation`) |
/// | 4 | | `\s+$` |
/// | 5 | `[一-龥ࠀ-一가-퟿]+` | the same |
/// | 6 | `\p{N}` | `\p{N}+` |
///
/// llama.cpp runs the expressions without `\p{…}` through `std::wregex` over text whose
/// non-ASCII whitespace was replaced by U+000B, so a whitespace scalar inside one of the
/// ranges (U+3000, U+2000…) matches `\s` but never the set.
extension PreTokenizer {
    /// Splits `scalars` by the DeepSeek Coder or DeepSeek LLM stages into `ends`.
    func splitDeepSeek(
        _ scalars: UnsafeBufferPointer<UInt32>, _ classes: UnsafeBufferPointer<UInt8>,
        into ends: inout [Int32], scratch: inout [Int32]
    ) {
        typealias Scanner = PreTokenizerScanner
        let isLLM = self == .deepseekLLM
        let letter = CodepointClass.letter.rawValue
        let punctuation = CodepointClass.punctuation.rawValue
        let number = CodepointClass.number.rawValue
        scratch.removeAll(keepingCapacity: true)
        Scanner.isolate(scalars, classes, start: 0, end: scalars.count, into: &scratch) { scalar, _ in
            scalar == 0x0A || scalar == 0x0D
        }
        Self.refine(scratch, into: &ends) { start, end, out in
            Scanner.splitSpacedRuns(scalars, classes, start: start, end: end, into: &out) { scalar, classBits in
                isLLM ? DeepSeekCharacters.isLetter(scalar) : classBits & letter != 0
            }
        }
        Self.refine(ends, into: &scratch) { start, end, out in
            Scanner.splitSpacedRuns(scalars, classes, start: start, end: end, into: &out) { scalar, classBits in
                isLLM ? DeepSeekCharacters.isPunctuation(scalar) : classBits & punctuation != 0
            }
        }
        if isLLM {
            Self.refine(scratch, into: &ends) { start, end, out in
                Scanner.splitTrailingWhitespace(classes, start: start, end: end, into: &out)
            }
            swap(&ends, &scratch)
        }
        Self.refine(scratch, into: &ends) { start, end, out in
            Scanner.splitRuns(scalars, classes, start: start, end: end, into: &out, isMember: DeepSeekCharacters.isCJK)
        }
        Self.refine(ends, into: &scratch) { start, end, out in
            if isLLM {
                Scanner.splitRuns(scalars, classes, start: start, end: end, into: &out) { _, classBits in
                    classBits & number != 0
                }
            } else {
                Scanner.isolate(scalars, classes, start: start, end: end, into: &out) { _, classBits in
                    classBits & number != 0
                }
            }
        }
        swap(&ends, &scratch)
    }
}

/// The explicit character sets of DeepSeek LLM's and DeepSeek Coder's expressions.
enum DeepSeekCharacters {
    private static var whitespace: UInt8 { CodepointClass.whitespace.rawValue }

    /// `[A-Za-zµÀ-ÖØ-öø-ƺ…𞤀-𞥃]`: the cased letters of DeepSeek LLM's second expression.
    static func isLetter(_ scalar: UInt32) -> Bool {
        if scalar < 0x80 { return (scalar | 0x20) >= 0x61 && (scalar | 0x20) <= 0x7A }
        switch scalar {
        case 0xB5, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x1BA, 0x1BC...0x1BF, 0x1C4...0x293, 0x295...0x2AF,
            0x370...0x373, 0x376...0x377, 0x37B...0x37D, 0x37F, 0x386, 0x388...0x38A, 0x38C, 0x38E...0x3A1,
            0x3A3...0x3F5, 0x3F7...0x481, 0x48A...0x52F, 0x531...0x556, 0x10A0...0x10C5, 0x13A0...0x13F5,
            0x13F8...0x13FD, 0x1C90...0x1CBA, 0x1CBD...0x1CBF, 0x1D00...0x1D2B, 0x1D6B...0x1D77,
            0x1D79...0x1D9A, 0x1E00...0x1F15, 0x1F18...0x1F1D, 0x1F20...0x1F45, 0x1F48...0x1F4D,
            0x1F50...0x1F57, 0x1F59, 0x1F5B, 0x1F5D, 0x1F5F...0x1F7D, 0x1F80...0x1FB4, 0x1FB6...0x1FBC,
            0x1FBE, 0x1FC2...0x1FC4, 0x1FC6...0x1FCC, 0x1FD0...0x1FD3, 0x1FD6...0x1FDB, 0x1FE0...0x1FEC,
            0x1FF2...0x1FF4, 0x1FF6...0x1FFC, 0x2102, 0x2107, 0x210A...0x2113, 0x2115, 0x2119...0x211D,
            0x2124, 0x2126, 0x2128, 0x212A...0x212D, 0x212F...0x2134, 0x2139, 0x213C...0x213F,
            0x2145...0x2149, 0x214E, 0x2183...0x2184, 0x2C00...0x2C7B, 0x2C7E...0x2CE4, 0x2CEB...0x2CEE,
            0x2CF2...0x2CF3, 0xA640...0xA66D, 0xA680...0xA69B, 0xA722...0xA76F, 0xA771...0xA787,
            0xA78B...0xA78E, 0xAB70...0xABBF, 0xFB00...0xFB06, 0xFB13...0xFB17, 0xFF21...0xFF3A,
            0xFF41...0xFF5A, 0x10400...0x1044F, 0x104B0...0x104D3, 0x104D8...0x104FB, 0x10C80...0x10CB2,
            0x10CC0...0x10CF2, 0x118A0...0x118DF, 0x1E900...0x1E943:
            return true
        default:
            return false
        }
    }

    /// `[!-/:-~！-／：-～‘-‟　-。]`; U+3000 is whitespace, so it never matches (see above).
    static func isPunctuation(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x21...0x2F, 0x3A...0x7E, 0xFF01...0xFF0F, 0xFF1A...0xFF5E, 0x2018...0x201F, 0x3001...0x3002:
            return true
        default:
            return false
        }
    }

    /// `[一-龥ࠀ-一가-퟿]`: U+0800…U+9FA5 and U+AC00…U+D7FF, whitespace excepted.
    static func isCJK(_ scalar: UInt32, _ classBits: UInt8) -> Bool {
        guard (0x800...0x9FA5).contains(scalar) || (0xAC00...0xD7FF).contains(scalar) else { return false }
        return classBits & whitespace == 0
    }
}
