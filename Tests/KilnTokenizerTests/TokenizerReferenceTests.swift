import Foundation
import KilnTokenizer
import Testing

/// Where the tokenizer tests find their reference data (copied into the repository, see
/// Tests/Fixtures/vocab/PROVENANCE.md and Tests/Fixtures/smollm2/PROVENANCE.md).
enum TokenizerFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let vocabularies = ["gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3"]

    static func vocabularyPath(_ name: String) -> String {
        directory.appendingPathComponent("vocab/ggml-vocab-\(name).gguf").path
    }

    /// Tokenizers are immutable and thread-safe, so the tests share one per file.
    private static let cache = TokenizerCache()

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try cache.tokenizer(at: vocabularyPath(name))
    }

    /// llama.cpp's test cases: inputs separated by `__ggml_vocab_test__` lines, expected ids one line each.
    static func cases(_ name: String) throws -> [(text: String, ids: [Int32])] {
        try cases(atBase: vocabularyPath(name), name: name)
    }

    /// The cases in `base + ".inp"` and `base + ".out"`.
    static func cases(atBase base: String, name: String) throws -> [(text: String, ids: [Int32])] {
        let input = String(decoding: try Data(contentsOf: URL(fileURLWithPath: base + ".inp")), as: UTF8.self)
        let output = String(decoding: try Data(contentsOf: URL(fileURLWithPath: base + ".out")), as: UTF8.self)
        var texts = input.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        precondition(texts.count == lines.count, "\(name): \(texts.count) inputs but \(lines.count) outputs")
        return zip(texts, lines).map { text, line in
            (text, line.split(separator: " ").map { Int32($0)! })
        }
    }

    /// The default model: `$KILN_DEFAULT_MODEL`, else the cache path, else fetched by the script.
    static func defaultModelPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: cached) { return cached }
        let script = directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/fetch-model.sh").path
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func smolLM2() throws -> Tokenizer {
        try cache.tokenizer(at: defaultModelPath())
    }

    /// Gemma 3 270M's tokenizer (SentencePiece, 262 144 tokens), from the model file that
    /// `Scripts/fetch-model.sh gemma-3-270m` fetches pinned (a no-op once it is cached).
    static func gemma3() throws -> Tokenizer { try pinnedModelTokenizer("gemma-3-270m") }

    /// Qwen2.5-Coder-0.5B's tokenizer (byte-level BPE, `qwen2` pre-tokenizer), from its model file.
    static func qwenCoder() throws -> Tokenizer { try pinnedModelTokenizer("qwen2.5-coder-0.5b") }

    /// The tokenizer of the pinned model `name`, which `Scripts/fetch-model.sh` fetches (a no-op
    /// once it is cached).
    static func pinnedModelTokenizer(_ name: String) throws -> Tokenizer {
        let script = directory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/fetch-model.sh").path
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, name]
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "Scripts/fetch-model.sh \(name) failed")
        return try cache.tokenizer(at: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The `tokenize` cases of llama.cpp's reference run on SmolLM2. Decoded with `JSONDecoder`:
    /// Foundation's `JSONSerialization` on Linux drops a byte-order mark that starts a string.
    static func smolLM2Cases() throws -> [(text: String, ids: [Int32])] {
        try referenceCases("smollm2/llamacpp-reference.json")
    }

    /// The `tokenize` cases of a llama.cpp reference run (`path` under Tests/Fixtures).
    static func referenceCases(_ path: String) throws -> [(text: String, ids: [Int32])] {
        struct Reference: Decodable {
            struct Case: Decodable {
                var text: String
                var ids: [Int32]
            }
            var tokenize: [Case]
        }
        let url = directory.appendingPathComponent(path)
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url)).tokenize.map { ($0.text, $0.ids) }
    }

    /// The greedy prompts of a llama.cpp reference run and the ids it fed (the model's BOS rule).
    static func referencePrompts(_ path: String) throws -> [(prompt: String, ids: [Int32])] {
        struct Reference: Decodable {
            struct Case: Decodable {
                var prompt: String
                var prompt_ids: [Int32]
            }
            var greedy: [Case]
        }
        let url = directory.appendingPathComponent(path)
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url)).greedy.map { ($0.prompt, $0.prompt_ids) }
    }
}

final class TokenizerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var loaded: [String: Tokenizer] = [:]

    func tokenizer(at path: String) throws -> Tokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let tokenizer = loaded[path] { return tokenizer }
        let tokenizer = try Tokenizer(modelAt: path)
        loaded[path] = tokenizer
        return tokenizer
    }
}

@Suite("Tokenizer against llama.cpp")
struct TokenizerReferenceTests {
    /// Every case of llama.cpp's tokenizer tests for the five vocabularies. The expected ids were
    /// made without BOS (`add_special_tokens=False`), so `addSpecial` is off here; BOS is checked
    /// separately below.
    @Test(arguments: TokenizerFixtures.vocabularies)
    func vocabularyCases(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        let cases = try TokenizerFixtures.cases(name)
        #expect(cases.count == 46)
        var passed = 0
        for (text, expected) in cases {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            #expect(ids == expected, "\(name): \(text.debugDescription)")
            if ids == expected { passed += 1 }
        }
        print("tokenizer reference \(name): \(passed)/\(cases.count) cases match llama.cpp")
    }

    @Test func smolLM2TokenizeCases() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        #expect(tokenizer.kind == .byteLevelBPE)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect(tokenizer.addsBOS == false)
        let cases = try TokenizerFixtures.smolLM2Cases()
        #expect(cases.count == 24)
        var passed = 0
        for (text, expected) in cases {
            // The reference parses specials and adds no BOS; with addSpecial the result is the same
            // because SmolLM2's metadata turns BOS off.
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            #expect(ids == expected, "\(text.debugDescription)")
            #expect(tokenizer.encode(text, addSpecial: true, parseSpecial: true) == expected)
            if ids == expected { passed += 1 }
        }
        print("tokenizer reference smollm2: \(passed)/\(cases.count) cases match llama.cpp")
    }

    /// Gemma 3's SentencePiece vocabulary (no space prefix, BOS added by its metadata) on the cases
    /// of llama.cpp's reference run, which parses specials and adds no BOS.
    @Test func gemma3TokenizeCases() throws {
        let tokenizer = try TokenizerFixtures.gemma3()
        #expect(tokenizer.kind == .sentencePiece && !tokenizer.addsSpacePrefix && tokenizer.addsBOS)
        #expect(tokenizer.vocabularySize == 262_144 && tokenizer.bosToken == 2)
        let cases = try TokenizerFixtures.referenceCases("gemma3-270m/llamacpp-reference.json")
        #expect(cases.count == 16)
        var passed = 0
        for (text, expected) in cases {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            #expect(ids == expected, "\(text.debugDescription)")
            #expect(tokenizer.encode(text, addSpecial: true, parseSpecial: true) == [2] + expected)
            if ids == expected { passed += 1 }
        }
        print("tokenizer reference gemma3: \(passed)/\(cases.count) cases match llama.cpp")
    }

    /// The greedy prompts of Gemma 3's reference, tokenized with the model's own BOS rule and specials.
    @Test func gemma3PromptsTokenizeAsLlamaCppDid() throws {
        let tokenizer = try TokenizerFixtures.gemma3()
        for (prompt, ids) in try TokenizerFixtures.referencePrompts("gemma3-270m/llamacpp-reference.json") {
            #expect(tokenizer.encode(prompt, addSpecial: true, parseSpecial: true) == ids)
        }
        // `<end_of_turn>` ends a generation, as llama.cpp's vocabulary marks it.
        let endOfTurn = tokenizer.encode("<end_of_turn>", addSpecial: false, parseSpecial: true)
        #expect(endOfTurn.count == 1 && tokenizer.isEndOfGeneration(endOfTurn[0]))
    }

    /// Qwen2.5-Coder's vocabulary on the cases of llama.cpp's reference run (specials parsed, no
    /// BOS), and the greedy prompts as llama.cpp tokenized them.
    @Test func qwenCoderTokenizeCasesAndPrompts() throws {
        let tokenizer = try TokenizerFixtures.qwenCoder()
        let cases = try TokenizerFixtures.referenceCases("qwen2.5-coder-0.5b/llamacpp-reference.json")
        #expect(cases.count == 16)
        for (text, expected) in cases {
            #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: true) == expected, "\(text.debugDescription)")
        }
        let prompts = try TokenizerFixtures.referencePrompts("qwen2.5-coder-0.5b/llamacpp-reference.json")
        #expect(prompts.count == 7)
        for (prompt, ids) in prompts {
            #expect(tokenizer.encode(prompt, addSpecial: true, parseSpecial: true) == ids)
        }
    }

    /// BOS follows each vocabulary's metadata (or the model's default when the file is silent).
    @Test func beginningOfSequenceFollowsMetadata() throws {
        let expectations: [(String, Int32?)] = [
            ("gpt-2", nil), ("qwen2", nil), ("llama-bpe", 128000), ("llama-spm", 1), ("phi-3", 1),
        ]
        for (name, bos) in expectations {
            let tokenizer = try TokenizerFixtures.tokenizer(name)
            let plain = tokenizer.encode("Hello world", addSpecial: false)
            let special = tokenizer.encode("Hello world", addSpecial: true)
            #expect(special == (bos.map { [$0] } ?? []) + plain, "\(name)")
            #expect(tokenizer.encode("", addSpecial: true) == (bos.map { [$0] } ?? []), "\(name)")
        }
    }

    @Test func specialTokensNeedParseSpecial() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let parsed = tokenizer.encode("<|im_start|>user", addSpecial: false, parseSpecial: true)
        #expect(parsed.first == 1)
        let literal = tokenizer.encode("<|im_start|>user", addSpecial: false, parseSpecial: false)
        #expect(!literal.contains(1))
        #expect(tokenizer.decode(literal) == "<|im_start|>user")
    }

    @Test func rolesOfSpecialTokens() throws {
        let smol = try TokenizerFixtures.smolLM2()
        #expect(smol.vocabularySize == 49152)
        #expect(smol.bosToken == 1 && smol.eosToken == 2 && smol.eotToken == 2)
        #expect(smol.isEndOfGeneration(2) && smol.isEndOfGeneration(0) && !smol.isEndOfGeneration(1))
        #expect(smol.tokenText(1) == "<|im_start|>")
        #expect(smol.tokenText(-1) == nil && smol.tokenText(49152) == nil)
        let llama3 = try TokenizerFixtures.tokenizer("llama-bpe")
        #expect(llama3.eotToken == 128009)
        #expect(llama3.isEndOfGeneration(128001) && llama3.isEndOfGeneration(128009))
        let spm = try TokenizerFixtures.tokenizer("llama-spm")
        #expect(spm.kind == .sentencePiece && spm.addsSpacePrefix)
        #expect(spm.isEndOfGeneration(2) && !spm.isEndOfGeneration(1))
    }
}
