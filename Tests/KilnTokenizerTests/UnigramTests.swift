import KilnTokenizer
import Testing

/// SentencePiece's unigram model (`t5`) on a small hand-made vocabulary; llama.cpp's
/// nomic-bert-moe vocabulary is in `LlamaVocabularyTests`.
@Suite("Unigram tokenizer")
struct UnigramTests {
    static func tokenizer(removesExtraWhitespaces: Bool) throws -> Tokenizer {
        let tokens = ["<pad>", "</s>", "<unk>", "▁", "a", "b", "ab", "▁ab", "▁a"]
        let scores: [Float] = [0, 0, 0, -2, -1, -1, -1.5, -4, -1]
        let types = [3, 3, 2, 1, 1, 1, 1, 1, 1]
        var vocabulary = TokenizerVocabulary(model: "t5", tokens: tokens, tokenTypes: types, scores: scores)
        vocabulary.addSpacePrefix = true
        vocabulary.removeExtraWhitespaces = removesExtraWhitespaces
        return try Tokenizer(vocabulary: vocabulary)
    }

    /// The path with the highest total score wins: ▁a + b (−2) over ▁ab (−4) and ▁ + ab (−3.5).
    @Test func viterbiPicksTheBestPath() throws {
        let tokenizer = try Self.tokenizer(removesExtraWhitespaces: false)
        #expect(tokenizer.kind == .unigram && tokenizer.bosToken == nil && tokenizer.eosToken == 1)
        #expect(tokenizer.encode("ab", addSpecial: false) == [8, 5])
        // llama.cpp's defaults for t5: EOS added, no BOS.
        #expect(tokenizer.encode("ab", addSpecial: true) == [8, 5, 1])
        #expect(tokenizer.decode([8, 5]) == "ab")
    }

    /// Characters no token covers become one unknown token per run.
    @Test func unknownRunsMerge() throws {
        let tokenizer = try Self.tokenizer(removesExtraWhitespaces: false)
        #expect(tokenizer.encode("xyz", addSpecial: false) == [3, 2])
        #expect(tokenizer.encode("axyb", addSpecial: false) == [8, 2, 5])
    }

    @Test func spacesAndExtraWhitespace() throws {
        let keeping = try Self.tokenizer(removesExtraWhitespaces: false)
        #expect(keeping.encode("a  b", addSpecial: false) == [8, 3, 3, 5])
        let merging = try Self.tokenizer(removesExtraWhitespaces: true)
        #expect(merging.encode("  a   b ", addSpecial: false) == [8, 3, 5])
        #expect(merging.encode("   ", addSpecial: false) == [])
    }
}
