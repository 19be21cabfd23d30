/// What kind of token an id is, as llama.cpp's `llama_token_attr` records it.
///
/// Built from `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
/// 5 unused, 6 byte) and adjusted the way llama.cpp adjusts it (end-of-turn tokens become
/// control tokens; control tokens named "unused" become unused).
public struct TokenAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    public static let control = TokenAttributes(rawValue: 1 << 3)
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    /// Whitespace before the token is absorbed when it is matched in text.
    public static let stripsLeft = TokenAttributes(rawValue: 1 << 7)
    /// Whitespace after the token is absorbed when it is matched in text.
    public static let stripsRight = TokenAttributes(rawValue: 1 << 8)

    /// The attributes for a GGUF `token_type` value; unknown values are undefined (empty).
    public init(tokenType: Int) {
        switch tokenType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    /// Tokens recognised in text by the special-token splitter.
    var isSpecial: Bool { !intersection([.control, .userDefined, .unknown]).isEmpty }

    /// Tokens hidden from output unless special tokens are rendered.
    var isHiddenUnlessRendered: Bool { !intersection([.control, .unknown]).isEmpty }
}
