import Foundation
import KilnTokenizer
import Testing

/// WordPiece matching, normalising and tokenizer.json reading on small hand-made files.
@Suite("WordPiece algorithm")
struct WordPieceAlgorithmTests {
    static let vocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "unaff", "##ord", "a", "##a", "##aa",
        ",", "hello", "cafe", "中", "##b",
    ]

    /// A tokenizer.json with `vocabulary`, BERT's normaliser and pre-tokenizer, and the parts
    /// given replacing the defaults.
    static func json(
        model: String = "WordPiece", normalizer: String = #"{"type": "BertNormalizer", "lowercase": true}"#,
        preTokenizer: String = #"{"type": "BertPreTokenizer"}"#,
        postProcessor: String = #"{"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}"#,
        maxCharacters: Int = 100, addedExtra: String = ""
    ) -> [UInt8] {
        let vocab = vocabulary.enumerated().map { "\"\($1)\": \($0)" }.joined(separator: ", ")
        let added = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].enumerated().map {
            #"{"id": \#($0), "content": "\#($1)", "special": true, "lstrip": false, "rstrip": false, "normalized": false}"#
        }
        let text = """
            {"version": "1.0", "added_tokens": [\((added + (addedExtra.isEmpty ? [] : [addedExtra])).joined(separator: ", "))],
             "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer), "post_processor": \(postProcessor),
             "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
             "model": {"type": "\(model)", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": \(maxCharacters), "vocab": {\(vocab)}}}
            """
        return Array(text.utf8)
    }

    static func tokenizer(_ bytes: [UInt8] = json()) throws -> Tokenizer {
        try Tokenizer(vocabulary: TokenizerVocabulary(huggingFaceJSON: bytes))
    }

    @Test func longestMatchFirstWithContinuations() throws {
        let tokenizer = try Self.tokenizer()
        // "unaff" beats "un"; then "##ord", "##able".
        #expect(tokenizer.encode("unaffordable", addSpecial: false) == [7, 8, 6])
        #expect(tokenizer.encode("aaaa", addSpecial: false) == [9, 11, 10])
        #expect(tokenizer.encode("Hello, unaffable", addSpecial: true) == [2, 13, 12, 7, 6, 3])
    }

    /// One piece missing makes the whole word [UNK], not only the missing part.
    @Test func unknownPieceMakesTheWordUnknown() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("unaffx hello", addSpecial: false) == [1, 13])
        #expect(tokenizer.encode("b", addSpecial: false) == [1])  // "b" exists only as "##b"
    }

    @Test func wordsOverTheCharacterLimitAreUnknown() throws {
        let tokenizer = try Self.tokenizer(Self.json(maxCharacters: 4))
        #expect(tokenizer.encode("aaaa", addSpecial: false) == [9, 11, 10])
        #expect(tokenizer.encode("aaaaa", addSpecial: false) == [1])
        // Characters, not bytes: "cafe" with an accent is four characters after stripping.
        #expect(tokenizer.encode("CAFÉ", addSpecial: false) == [14])
    }

    @Test func normaliserOptions() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("Café\u{0}\u{200D}\tHELLO", addSpecial: false) == [14, 13])
        #expect(tokenizer.encode("中中", addSpecial: false) == [15, 15])
        let cased = try Self.tokenizer(
            Self.json(normalizer: #"{"type": "BertNormalizer", "lowercase": false, "strip_accents": false, "handle_chinese_chars": false}"#))
        #expect(cased.encode("Hello cafe", addSpecial: false) == [1, 14])
        #expect(cased.encode("café 中中", addSpecial: false) == [1, 1])
        // strip_accents null follows lowercase: lower-casing without it keeps the accent.
        let keepsAccents = try Self.tokenizer(Self.json(normalizer: #"{"type": "BertNormalizer", "lowercase": true, "strip_accents": false}"#))
        #expect(keepsAccents.encode("CAFÉ CAFE", addSpecial: false) == [1, 14])
    }

    @Test func postProcessorsGiveTheSpecialTokens() throws {
        let template = """
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
             {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
             "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}
            """
        #expect(try Self.tokenizer(Self.json(postProcessor: template)).encode("hello") == [2, 13, 3])
        let none = try Self.tokenizer(Self.json(postProcessor: "null"))
        #expect(none.encode("hello", addSpecial: true) == [13])
        #expect(!none.addsBOS && !none.addsEOS)
    }

    /// Added tokens are found in raw text whatever `parseSpecial` says, even inside words, as
    /// Hugging Face finds them (ids checked with `tokenizers` 0.23.3 on this file).
    @Test func addedTokensInText() throws {
        let extra = #"{"id": 9, "content": "a", "special": false, "lstrip": false, "rstrip": false, "normalized": false}"#
        let tokenizer = try Self.tokenizer(Self.json(addedExtra: extra))
        #expect(tokenizer.encode("hello[SEP]hello", addSpecial: false, parseSpecial: false) == [13, 3, 13])
        #expect(tokenizer.encode("aaaa", addSpecial: true) == [2, 9, 9, 9, 9, 3])
        #expect(tokenizer.encode("unaffordable", addSpecial: false) == [4, 9, 1, 9, 1])
        #expect(tokenizer.decode([2, 13, 12, 7, 6, 3]) == "[CLS] hello , unaffable [SEP]")
        #expect(tokenizer.decode([2, 13, 12, 7, 6, 3], renderSpecial: false, cleanUpSpaces: true) == "hello, unaffable")
    }

    @Test func unsupportedPartsAreNamed() throws {
        let cases: [([UInt8], String, String)] = [
            (Self.json(model: "BPE"), "model", "BPE"),
            (Self.json(normalizer: #"{"type": "Lowercase"}"#), "normalizer", "Lowercase"),
            (Self.json(preTokenizer: #"{"type": "Whitespace"}"#), "pre_tokenizer", "Whitespace"),
            (Self.json(preTokenizer: "null"), "pre_tokenizer", "null"),
            (Self.json(postProcessor: #"{"type": "RobertaProcessing"}"#), "post_processor", "RobertaProcessing"),
        ]
        for (bytes, part, type) in cases {
            #expect(throws: TokenizerError.unsupportedTokenizerJSON(part: part, type: type)) {
                _ = try TokenizerVocabulary(huggingFaceJSON: bytes)
            }
        }
        let error = TokenizerError.unsupportedTokenizerJSON(part: "normalizer", type: "Lowercase")
        #expect(error.description.contains("normalizer 'Lowercase'"))
        #expect(throws: TokenizerError.missingFile("/nonexistent/tokenizer.json")) {
            _ = try Tokenizer(huggingFaceJSONAt: "/nonexistent/tokenizer.json")
        }
        #expect(throws: TokenizerError.self) { _ = try TokenizerVocabulary(huggingFaceJSON: Array("{\"model\": 1".utf8)) }
    }
}
