/// Detokenization: ids back to bytes and text, as llama.cpp's `token_to_piece` and `detokenize`.
extension Tokenizer {
    /// How normal tokens' texts become bytes.
    enum PieceStyle {
        /// Through the GPT-2 byte alphabet.
        case byteLevel
        /// `▁` is a space, `<0xXX>` a byte.
        case sentencePiece
        /// A word-initial token and a special token render with a space before them, a
        /// continuation token without its prefix (nil prefix: llama.cpp's `▁` form, as
        /// SentencePiece); `decodeBytes` drops the space that starts the text.
        case wordPiece(continuingPrefix: String?)
    }

    /// The bytes each token renders to (special tokens as their text), flattened.
    ///
    /// Byte-level BPE: normal tokens map back through the GPT-2 alphabet. SentencePiece: `▁`
    /// becomes a space and `<0xXX>` tokens become their byte. Control, unknown and user-defined
    /// tokens render as their text; byte-level byte tokens, unused and undefined tokens as nothing.
    static func renderPieces(
        _ tokens: [String], attributes: [TokenAttributes], style: PieceStyle
    ) -> (starts: [Int32], bytes: [UInt8]) {
        var starts: [Int32] = [0]
        var bytes: [UInt8] = []
        starts.reserveCapacity(tokens.count + 1)
        bytes.reserveCapacity(tokens.count * 6)
        for (id, text) in tokens.enumerated() {
            let attribute = attributes[id]
            switch style {
            case _ where attribute.isSpecial:
                if case .wordPiece = style { bytes.append(0x20) }
                bytes.append(contentsOf: text.utf8)
            case .wordPiece(let prefix?) where attribute.contains(.normal):
                // Bytes, not characters: "##" followed by a combining sign is another grapheme.
                if !prefix.isEmpty && text.utf8.starts(with: prefix.utf8) {
                    bytes.append(contentsOf: text.utf8.dropFirst(prefix.utf8.count))
                } else {
                    bytes.append(0x20)
                    bytes.append(contentsOf: text.utf8)
                }
            case .sentencePiece where attribute.contains(.normal), .wordPiece(nil) where attribute.contains(.normal):
                appendUnescapingSpaces(text, to: &bytes)
            case .byteLevel where attribute.contains(.normal):
                bytes.append(contentsOf: ByteLevelAlphabet.decodeLeniently(text))
            case .sentencePiece where attribute.contains(.byte):
                if let byte = byteValue(text) { bytes.append(byte) }
            default:
                break
            }
            starts.append(Int32(bytes.count))
        }
        return (starts, bytes)
    }

    /// `▁` (E2 96 81) becomes a space.
    private static func appendUnescapingSpaces(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if index + 2 < utf8.count && utf8[index] == 0xE2 && utf8[index + 1] == 0x96 && utf8[index + 2] == 0x81 {
                bytes.append(0x20)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
    }

    /// The byte of a `<0xXX>` token.
    private static func byteValue(_ text: String) -> UInt8? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 6, utf8[0] == 0x3C, utf8[1] == 0x30, utf8[2] == 0x78, utf8[5] == 0x3E else { return nil }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }

    /// Appends the bytes token `id` renders to. Ids out of range render as nothing.
    /// - Parameters:
    ///   - renderSpecial: show control and unknown tokens as their text (else they are empty).
    ///   - stripLeadingSpace: drop one leading space (the SentencePiece prefix of a first token).
    public func appendPiece(
        _ id: Int32, to bytes: inout [UInt8], renderSpecial: Bool = true,
        stripLeadingSpace: Bool = false
    ) {
        guard id >= 0 && Int(id) < vocabularySize else { return }
        if !renderSpecial && attributeTable[Int(id)].isHiddenUnlessRendered { return }
        var start = Int(pieceOffsets[Int(id)])
        let end = Int(pieceOffsets[Int(id) + 1])
        if stripLeadingSpace && start < end && pieceStorage[start] == 0x20 { start += 1 }
        bytes.append(contentsOf: pieceStorage[start..<end])
    }

    /// The bytes token `id` renders to: a fragment of UTF-8 that may be incomplete on its own.
    public func pieceBytes(_ id: Int32, renderSpecial: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        appendPiece(id, to: &bytes, renderSpecial: renderSpecial)
        return bytes
    }

    /// Throws for the first id outside `0..<vocabularySize`.
    public func validate(_ ids: [Int32]) throws(TokenizerError) {
        for id in ids where id < 0 || Int(id) >= vocabularySize {
            throw .tokenOutOfRange(id: id, vocabularySize: vocabularySize)
        }
    }

    /// The raw bytes of `ids`, as llama.cpp's `llama_detokenize` with `remove_special = false`.
    public func decodeBytes(_ ids: [Int32], renderSpecial: Bool = true, cleanUpSpaces: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, id) in ids.enumerated() {
            appendPiece(id, to: &bytes, renderSpecial: renderSpecial, stripLeadingSpace: index == 0 && addsSpacePrefix)
        }
        // WordPiece words render with a space before them; the text's first has none.
        if kind == .wordPiece && bytes.first == 0x20 { bytes.removeFirst() }
        if cleanUpSpaces && cleansUpSpaces { Self.cleanUpSpaces(&bytes) }
        return bytes
    }

    /// Decodes `ids` to text. Invalid UTF-8 (possible only from a cut-off byte sequence) becomes
    /// U+FFFD. Ids out of range are skipped; call `validate(_:)` first to reject them.
    /// - Parameters:
    ///   - renderSpecial: show control tokens such as `<|im_end|>` as text.
    ///   - cleanUpSpaces: apply the vocabulary's `clean_up_tokenization_spaces` rule (only when
    ///     `cleansUpSpaces`), removing the space in " ." " ," " !" " ?" and some contractions.
    public func decode(_ ids: [Int32], renderSpecial: Bool = true, cleanUpSpaces: Bool = false) -> String {
        String(decoding: decodeBytes(ids, renderSpecial: renderSpecial, cleanUpSpaces: cleanUpSpaces), as: UTF8.self)
    }

    /// llama.cpp's three clean-up passes over detokenized text.
    static func cleanUpSpaces(_ text: inout [UInt8]) {
        let space: UInt8 = 0x20, apostrophe: UInt8 = 0x27
        // " ?", " !", " .", " ," lose their space.
        var result: [UInt8] = []
        for byte in text {
            if result.last == space && [0x3F, 0x21, 0x2E, 0x2C].contains(byte) { result.removeLast() }
            result.append(byte)
        }
        // " ' " becomes "'".
        text = result
        result = []
        var index = 0
        while index < text.count {
            let byte = text[index]
            if byte == apostrophe && index > 0 && index + 1 < text.count && text[index - 1] == space
                && text[index + 1] == space && result.last == space
            {
                result.removeLast()
                result.append(byte)
                index += 2
                continue
            }
            result.append(byte)
            index += 1
        }
        // " 's", " 'm", " 're", " 've" lose their space.
        text = result
        result = []
        for (index, byte) in text.enumerated() {
            if byte == apostrophe && result.last == space && index + 1 < text.count {
                let next = text[index + 1]
                let after = index + 2 < text.count ? text[index + 2] : 0
                if next == 0x73 || next == 0x6D || ((next == 0x72 || next == 0x76) && after == 0x65) {
                    result.removeLast()
                }
            }
            result.append(byte)
        }
        text = result
    }
}
