import KilnTokenizer
import Testing

/// Gemma 4's BPE over `▁`-escaped UTF-8 and the DeepSeek and Qwen 3.5 pre-tokenizers, on
/// small hand-made inputs (the llama.cpp vocabularies are in `LlamaVocabularyTests`).
@Suite("Space-escaped BPE and DeepSeek / Qwen 3.5 pre-tokenizers")
struct SpaceEscapedBPETests {
    /// A Gemma 4-style vocabulary: specials, the 256 byte tokens, then a few pieces.
    static func gemmaStyle() throws -> (Tokenizer, [String: Int32]) {
        var tokens = ["<pad>", "<eos>", "<bos>", "<unk>"] + (0..<256).map { "<0x\(hex($0))>" }
        tokens += ["▁", "a", "b", "ab", "▁ab", "\n", "\n\n"]
        var types = [Int](repeating: 1, count: tokens.count)
        for id in 0..<4 { types[id] = 3 }
        for byte in 0..<256 { types[4 + byte] = 6 }
        var vocabulary = TokenizerVocabulary(
            model: "gemma4", tokens: tokens, tokenTypes: types, merges: ["a b", "▁ ab"])
        vocabulary.bosTokenID = 2
        vocabulary.eosTokenID = 1
        vocabulary.unknownTokenID = 3
        vocabulary.addBOS = false
        let ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) })
        return (try Tokenizer(vocabulary: vocabulary), ids)
    }

    private static func hex(_ byte: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[byte >> 4], digits[byte & 15]])
    }

    @Test func mergesRawCharactersWithEscapedSpaces() throws {
        let (tokenizer, id) = try Self.gemmaStyle()
        #expect(tokenizer.kind == .spaceEscapedBPE && tokenizer.preTokenizer == .gemma4)
        // BOS is added although the vocabulary says no, as llama.cpp does for Gemma 4.
        #expect(tokenizer.addsBOS && tokenizer.encode("ab").first == 2)
        let ids = tokenizer.encode(" ab\n\nxé", addSpecial: false)
        let expected: [Int32] = [id["▁ab"]!, id["\n\n"]!, id["<0x78>"]!, id["<0xC3>"]!, id["<0xA9>"]!]
        #expect(ids == expected)
        #expect(tokenizer.decode(ids) == " ab\n\nxé")
    }

    /// A run of newlines that is a token is taken whole; one that is not splits into
    /// characters, which no merge joins.
    @Test func newlineRuns() throws {
        let (tokenizer, id) = try Self.gemmaStyle()
        #expect(tokenizer.encode("\n\n", addSpecial: false) == [id["\n\n"]!])
        #expect(tokenizer.encode("\n\n\n", addSpecial: false) == [id["\n"]!, id["\n"]!, id["\n"]!])
        #expect(tokenizer.encode("a\n\nb", addSpecial: false) == [id["a"]!, id["\n\n"]!, id["b"]!])
    }

    /// Long words take the heap path of the same merge loop.
    @Test func longWordsOfMultibyteCharacters() throws {
        let (tokenizer, id) = try Self.gemmaStyle()
        let ids = tokenizer.encode(String(repeating: "ab", count: 40) + "é", addSpecial: false)
        #expect(ids == [Int32](repeating: id["ab"]!, count: 40) + [id["<0xC3>"]!, id["<0xA9>"]!])
    }

    @Test func qwen35JoinsMarksToLetters() {
        #expect(PreTokenizer.qwen35.words(in: "cafe\u{301} x") == ["cafe\u{301}", " x"])
        #expect(PreTokenizer.qwen2.words(in: "cafe\u{301} x") == ["cafe", "\u{301}", " x"])
        #expect(PreTokenizer.qwen35.words(in: "\u{301}\u{301}ab 12") == ["\u{301}\u{301}ab", " ", "1", "2"])
    }

    @Test func deepseekCoderStages() {
        #expect(
            PreTokenizer.deepseekCoder.words(in: "Hello, world 123\n中文")
                == ["Hello", ",", " world", " ", "1", "2", "3", "\n", "中文"])
        #expect(PreTokenizer.deepseekCoder.words(in: "  x\r\n") == [" ", " x", "\r", "\n"])
    }

    @Test func deepseekLLMStages() {
        #expect(PreTokenizer.deepseekLLM.words(in: "Hello world  \n") == ["Hello", " world", "  ", "\n"])
        #expect(PreTokenizer.deepseekLLM.words(in: "abc 12 ") == ["abc", " ", "12", " "])
        // Greek is in the letter set, Devanagari is not but falls in the "CJK" range, which
        // starts at U+0800.
        #expect(PreTokenizer.deepseekLLM.words(in: "αβ नमस्ते 中文。") == ["αβ", " ", "नमस्ते", " ", "中文", "。"])
    }

    @Test func unknownNamesListWhatIsSupported() {
        let vocabulary = TokenizerVocabulary(model: "gpt2", preTokenizer: "no-such", tokens: ["a"], merges: [])
        #expect(throws: TokenizerError.unsupportedPreTokenizer("no-such")) { try Tokenizer(vocabulary: vocabulary) }
        let description = TokenizerError.unsupportedPreTokenizer("no-such").description
        #expect(description.contains("deepseek-llm") && description.contains("qwen35") && description.contains("gemma4"))
        #expect(TokenizerError.unsupportedModel("rwkv").description.contains("'gemma4'"))
    }
}
