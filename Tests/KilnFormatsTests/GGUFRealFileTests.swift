import Foundation
import KilnFormats
import Testing

/// The real files: the reference vocabularies (committed fixtures) and the default model.
@Suite struct GGUFRealFileTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static var defaultModelPath: String? {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"] { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: cached) ? cached : nil
    }

    @Test func defaultModelHeader() throws {
        let path = try #require(Self.defaultModelPath, "run Scripts/fetch-model.sh or set KILN_DEFAULT_MODEL")
        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.string("general.architecture") == "llama")
        #expect(file.int("llama.block_count") == 30)
        #expect(file.int("llama.embedding_length") == 576)
        #expect(file.int("llama.attention.head_count") == 9)
        #expect(file.int("llama.attention.head_count_kv") == 3)
        #expect(file.float("llama.rope.freq_base") == 100_000)
        #expect(file.string("tokenizer.ggml.pre") == "smollm")
        #expect(file.strings("tokenizer.ggml.tokens")?.count == 49152)
        #expect(file.string("tokenizer.chat_template")?.contains("<|im_start|>") == true)
        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(file.tensor(named: "blk.0.attn_q.weight")?.type == .q4_1)
        // 30 blocks of 9 tensors, the embedding and the final norm; the output is tied.
        #expect(file.tensors.count == 30 * 9 + 2)
        let total = file.tensors.reduce(0) { $0 + $1.byteCount }
        #expect(file.dataOffset + total <= file.fileSize)
        #expect(file.data(of: embedding).count == 49152 * 576 / 32 * 34)
    }

    @Test(arguments: ["gpt-2", "llama-bpe", "llama-spm", "phi-3", "qwen2"])
    func vocabularyOnlyFile(name: String) throws {
        let path = Self.fixtures.appendingPathComponent("vocab/ggml-vocab-\(name).gguf").path
        try #require(FileManager.default.fileExists(atPath: path), "fixture \(path)")
        let file = try GGUFFile(path: path)
        let tokens = try #require(file.strings("tokenizer.ggml.tokens"))
        #expect(tokens.count > 30_000)
        #expect(file.string("tokenizer.ggml.model") != nil)
    }
}
