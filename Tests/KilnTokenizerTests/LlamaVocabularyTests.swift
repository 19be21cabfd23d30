import Foundation
import KilnTokenizer
import Testing

/// Every vocabulary test of llama.cpp's `models/` folder (llama-cpp-python 0.3.36's source
/// distribution; Tests/Fixtures/vocab/PROVENANCE.md), run as its `test-tokenizer-0` runs them.
enum LlamaVocabularyFixtures {
    struct Vocabulary: Sendable, CustomStringConvertible {
        var name: String
        /// The fixture folder under Tests/Fixtures.
        var folder = "vocab"
        var kind: Tokenizer.Kind
        var preTokenizer: PreTokenizer?

        var description: String { name }
    }

    /// Every `ggml-vocab-*.gguf` of the folder. aquila, baichuan, gpt-neox and nomic-bert-moe
    /// come without cases: theirs were made here by llama.cpp itself (see PROVENANCE.md).
    static let all: [Vocabulary] = [
        .init(name: "aquila", kind: .byteLevelBPE, preTokenizer: .default),
        .init(name: "baichuan", kind: .sentencePiece),
        .init(name: "bert-bge", folder: "wordpiece", kind: .wordPiece),
        .init(name: "command-r", kind: .byteLevelBPE, preTokenizer: .smollm),
        .init(name: "deepseek-coder", kind: .byteLevelBPE, preTokenizer: .deepseekCoder),
        .init(name: "deepseek-llm", kind: .byteLevelBPE, preTokenizer: .deepseekLLM),
        .init(name: "falcon", kind: .byteLevelBPE, preTokenizer: .falcon),
        .init(name: "gemma-4", kind: .spaceEscapedBPE, preTokenizer: .gemma4),
        .init(name: "gpt-2", kind: .byteLevelBPE, preTokenizer: .gpt2),
        .init(name: "gpt-neox", kind: .byteLevelBPE, preTokenizer: .default),
        .init(name: "llama-bpe", kind: .byteLevelBPE, preTokenizer: .llama3),
        .init(name: "llama-spm", kind: .sentencePiece),
        .init(name: "mpt", kind: .byteLevelBPE, preTokenizer: .gpt2),
        .init(name: "nomic-bert-moe", kind: .unigram),
        .init(name: "phi-3", kind: .sentencePiece),
        .init(name: "qwen2", kind: .byteLevelBPE, preTokenizer: .qwen2),
        .init(name: "qwen35", kind: .byteLevelBPE, preTokenizer: .qwen35),
        .init(name: "refact", kind: .byteLevelBPE, preTokenizer: .smollm),
        .init(name: "starcoder", kind: .byteLevelBPE, preTokenizer: .smollm),
    ]

    /// Where a vocabulary's files are: its fixture folder, else the folder named by
    /// `KILN_LLAMA_CPP_MODELS` (the source distribution's `vendor/llama.cpp/models`). Nil when
    /// the `.gguf` is in neither.
    static func path(_ vocabulary: Vocabulary) -> String? {
        let file = "ggml-vocab-\(vocabulary.name).gguf"
        let local = TokenizerFixtures.directory.appendingPathComponent("\(vocabulary.folder)/\(file)").path
        if FileManager.default.fileExists(atPath: local) { return local }
        guard let folder = ProcessInfo.processInfo.environment["KILN_LLAMA_CPP_MODELS"], !folder.isEmpty else {
            return nil
        }
        let external = URL(fileURLWithPath: folder).appendingPathComponent(file).path
        return FileManager.default.fileExists(atPath: external) ? external : nil
    }

    /// The cases of `vocabulary` (read from its fixture folder, where every `.inp`/`.out` is).
    static func cases(_ vocabulary: Vocabulary) throws -> [(text: String, ids: [Int32])] {
        let base = TokenizerFixtures.directory.appendingPathComponent("\(vocabulary.folder)/ggml-vocab-\(vocabulary.name).gguf")
        return try TokenizerFixtures.cases(atBase: base.path, name: vocabulary.name)
    }

    /// vocab-random-cases.json: llama.cpp's ids for 421 random texts in the vocabularies that
    /// random-cases.json does not cover. Decoded with `JSONDecoder` (see PROVENANCE.md).
    struct RandomCases: Decodable, Sendable {
        var texts: [String]
        var ids: [String: [String]]
    }

    static let randomCases: RandomCases? = try? JSONDecoder().decode(
        RandomCases.self,
        from: Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("vocab/vocab-random-cases.json")))

    private static let cache = TokenizerCache()

    static func tokenizer(at path: String) throws -> Tokenizer { try cache.tokenizer(at: path) }
}

@Suite("llama.cpp vocabulary tests")
struct LlamaVocabularyTests {
    /// llama.cpp's `test-tokenizer-0`: no special tokens added, none parsed; ids exactly equal.
    @Test(arguments: LlamaVocabularyFixtures.all)
    func vocabularyCases(vocabulary: LlamaVocabularyFixtures.Vocabulary) throws {
        let path = try #require(
            LlamaVocabularyFixtures.path(vocabulary),
            "ggml-vocab-\(vocabulary.name).gguf is not in Tests/Fixtures/\(vocabulary.folder) (nor in KILN_LLAMA_CPP_MODELS)")
        let tokenizer = try LlamaVocabularyFixtures.tokenizer(at: path)
        #expect(tokenizer.kind == vocabulary.kind)
        #expect(tokenizer.preTokenizer == vocabulary.preTokenizer)
        let cases = try LlamaVocabularyFixtures.cases(vocabulary)
        #expect(cases.count >= 37)
        var passed = 0
        for (text, expected) in cases {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            #expect(ids == expected, "\(vocabulary.name): \(text.debugDescription)")
            if ids == expected { passed += 1 }
        }
        print("tokenizer vocabulary \(vocabulary.name): \(passed)/\(cases.count) cases match llama.cpp")
    }

    /// Random texts (scripts, marks, emoji, whitespace runs, control characters, special-token
    /// texts) id for id as llama.cpp tokenizes them, without special tokens.
    @Test(arguments: LlamaVocabularyFixtures.all.filter { LlamaVocabularyFixtures.randomCases?.ids[$0.name] != nil })
    func randomTexts(vocabulary: LlamaVocabularyFixtures.Vocabulary) throws {
        let fixture = try #require(LlamaVocabularyFixtures.randomCases)
        let lines = try #require(fixture.ids[vocabulary.name])
        #expect(lines.count == fixture.texts.count)
        let path = try #require(LlamaVocabularyFixtures.path(vocabulary), "ggml-vocab-\(vocabulary.name).gguf is missing")
        let tokenizer = try LlamaVocabularyFixtures.tokenizer(at: path)
        var passed = 0
        for (text, line) in zip(fixture.texts, lines) {
            let expected = line.split(separator: " ").map { Int32($0)! }
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            #expect(ids == expected, "\(vocabulary.name): \(text.debugDescription)")
            if ids == expected { passed += 1 }
        }
        print("tokenizer random texts \(vocabulary.name): \(passed)/\(lines.count) match llama.cpp")
    }

    /// Gemma 4 adds BOS even where its file turns it off, as llama.cpp does.
    @Test func gemma4AddsBOS() throws {
        let vocabulary = try #require(LlamaVocabularyFixtures.all.first { $0.name == "gemma-4" })
        guard let path = LlamaVocabularyFixtures.path(vocabulary) else { return }
        let tokenizer = try LlamaVocabularyFixtures.tokenizer(at: path)
        #expect(tokenizer.addsBOS && tokenizer.bosToken == 2)
        #expect(tokenizer.encode("Hello", addSpecial: true).first == 2)
        #expect(tokenizer.decode(tokenizer.encode(" Hello  world\n\n", addSpecial: false)) == " Hello  world\n\n")
    }
}
