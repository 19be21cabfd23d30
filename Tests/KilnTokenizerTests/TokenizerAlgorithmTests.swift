import Foundation
import KilnTokenizer
import Testing

/// The merge loops, pre-tokenizers and error handling on small hand-made vocabularies.
@Suite("Tokenizer algorithms")
struct TokenizerAlgorithmTests {
    /// A byte-level vocabulary: ASCII letters stand for themselves in the GPT-2 alphabet.
    static func byteLevel(_ tokens: [String], merges: [String], pre: String = "gpt-2") throws -> Tokenizer {
        var vocabulary = TokenizerVocabulary(model: "gpt2", preTokenizer: pre, tokens: tokens, merges: merges)
        vocabulary.addBOS = false
        return try Tokenizer(vocabulary: vocabulary)
    }

    @Test func lowestRankMergesFirst() throws {
        let tokenizer = try Self.byteLevel(["a", "b", "c", "ab", "bc", "abc"], merges: ["b c", "a b", "a bc"])
        // "b c" has rank 0, so "abc" becomes a + bc, then "a bc" joins them.
        #expect(tokenizer.encode("abc") == [5])
        let noFinalMerge = try Self.byteLevel(["a", "b", "c", "ab", "bc"], merges: ["b c", "a b"])
        #expect(noFinalMerge.encode("abc") == [0, 4])
    }

    @Test func equalRanksMergeLeftmostFirst() throws {
        let tokenizer = try Self.byteLevel(["a", "aa"], merges: ["a a"])
        #expect(tokenizer.encode("aaa") == [1, 0])
        #expect(tokenizer.encode("aaaaa") == [1, 1, 0])
    }

    /// A merge whose result is not a token still forms an intermediate symbol, as in llama.cpp.
    @Test func intermediateSymbolsOutsideTheVocabulary() throws {
        let tokenizer = try Self.byteLevel(["x", "y", "z", "xyz"], merges: ["x y", "xy z"])
        #expect(tokenizer.encode("xyz") == [3])
        // "xy" is no token: it falls back to its single-character tokens.
        #expect(tokenizer.encode("xy") == [0, 1])
    }

    /// A word of 200,000 letters merges in O(n log n); a quadratic loop would not finish.
    @Test func longWordsMergeWithoutRescanning() throws {
        let tokenizer = try Self.byteLevel(["a", "b", "ab", "abab"], merges: ["a b", "ab ab"])
        let ids = tokenizer.encode(String(repeating: "ab", count: 100_000))
        #expect(ids.count == 50_000 && ids.allSatisfy { $0 == 3 })
    }

    @Test func sentencePieceScoresAndByteFallback() throws {
        var tokens = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        tokens += ["▁", "a", "b", "ab", "▁a", "▁ab"]
        let first = 259
        var scores = [Float](repeating: 0, count: tokens.count)
        scores[first + 3] = -1  // ab
        scores[first + 4] = -2  // ▁a
        scores[first + 5] = -3  // ▁ab
        var types = [Int](repeating: 1, count: tokens.count)
        types[0] = 2
        types[1] = 3
        types[2] = 3
        for byte in 0..<256 { types[3 + byte] = 6 }
        let tokenizer = try Tokenizer(
            vocabulary: TokenizerVocabulary(
                model: "llama", tokens: tokens,
                tokenTypes: types, scores: scores))
        // "▁ab": "ab" (score -1) beats "▁a" (-2); then "▁" + "ab" joins into "▁ab".
        #expect(tokenizer.encode("ab", addSpecial: false) == [Int32(first + 5)])
        // "é" is not in the vocabulary: its two UTF-8 bytes become byte tokens.
        let expected: [Int32] = [Int32(first), 3 + 0xC3, 3 + 0xA9]
        #expect(tokenizer.encode("é", addSpecial: false) == expected)
        #expect(tokenizer.encode("ab", addSpecial: true) == [1, Int32(first + 5)])
        #expect(tokenizer.decode(tokenizer.encode("é ab", addSpecial: true)) == "<s> é ab")
        #expect(tokenizer.decode(tokenizer.encode("é ab", addSpecial: false)) == "é ab")
    }

    @Test func preTokenizerWords() {
        #expect(
            PreTokenizer.gpt2.words(in: "Hello world's 123  abc\n\n")
                == ["Hello", " world", "'s", " 123", " ", " abc", "\n\n"])
        #expect(
            PreTokenizer.llama3.words(in: "Hello 1234567 world!!\n\n  x")
                == ["Hello", " ", "123", "456", "7", " world", "!!\n\n", " ", " x"])
        #expect(PreTokenizer.llama3.words(in: "I'M HERE'S") == ["I", "'M", " HERE", "'S"])
        #expect(PreTokenizer.gpt2.words(in: "I'M") == ["I", "'", "M"])
        #expect(PreTokenizer.qwen2.words(in: "abc 2024") == ["abc", " ", "2", "0", "2", "4"])
        #expect(PreTokenizer.smollm.words(in: "a1b 22") == ["a", "1", "b", " ", "2", "2"])
        #expect(
            PreTokenizer.default.words(in: "hello, world 12345!")
                == ["hello", ",", " world", " ", "123", "45", "!"])
        #expect(PreTokenizer.falcon.words(in: "a`b 1234") == ["a", "`", "b", " ", "123", "4"])
        #expect(PreTokenizer.llama3.words(in: "") == [])
        #expect(PreTokenizer.llama3.words(in: "\u{3000}日本\u{00A0}語") == ["\u{3000}日本", "\u{00A0}語"])
    }

    @Test func badMetadataIsAClearError() throws {
        #expect(throws: TokenizerError.unsupportedModel("rwkv")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "rwkv", tokens: ["a"]))
        }
        // Unigram needs an unknown token too: llama.cpp's default id 2 is outside this vocabulary.
        #expect(throws: TokenizerError.missingMetadata(key: "tokenizer.ggml.unknown_token_id")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "t5", tokens: ["a"]))
        }
        // WordPiece needs an unknown token: llama.cpp's default id 100 is outside this vocabulary.
        #expect(throws: TokenizerError.missingMetadata(key: "tokenizer.ggml.unknown_token_id")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "bert", tokens: ["a"]))
        }
        #expect(throws: TokenizerError.missingMetadata(key: "tokenizer.ggml.merges")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "gpt2", tokens: ["a"]))
        }
        #expect(throws: TokenizerError.invalidMetadata("the vocabulary is empty")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: []))
        }
        #expect(throws: TokenizerError.invalidMetadata("token_type has 1 entries for 2 tokens")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: ["a", "b"], tokenTypes: [1]))
        }
        var limits = TokenizerLimits()
        limits.maxVocabularySize = 1
        #expect(throws: TokenizerError.invalidMetadata("2 tokens exceed the limit of 1")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: ["a", "b"]), limits: limits)
        }
        #expect(throws: (any Error).self) { try Tokenizer(modelAt: "/nonexistent/model.gguf") }
        #expect(throws: TokenizerError.unsupportedPreTokenizer("something-new")) {
            try Self.byteLevel(["a"], merges: [], pre: "something-new")
        }
        // No name at all: llama.cpp's default splitting, with a warning.
        let unnamed = try Tokenizer(vocabulary: TokenizerVocabulary(model: "gpt2", tokens: ["a"], merges: []))
        #expect(unnamed.preTokenizer == .default)
        #expect(unnamed.warnings.count == 1)
    }

    /// Malformed merge lines are skipped, never a crash.
    @Test func malformedMergesAreIgnored() throws {
        let tokenizer = try Self.byteLevel(["a", "b", "ab"], merges: ["", "ab", " ", "a", "a b c", "\u{1F600} b", "a b"])
        #expect(tokenizer.encode("ab") == [2])
    }
}
