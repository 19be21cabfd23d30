import Foundation
import KilnText
import Testing

/// Shared by the model tests: the default model, Gemma 3 270M, and their llama.cpp reference
/// fixtures; the comparisons with llama.cpp's greedy runs live in `LlamaCppComparison`.
enum ModelFixtures {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The default model: `$KILN_DEFAULT_MODEL`, the cache path, or fetched by Scripts/fetch-model.sh.
    static let modelPath: String? = {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: cached) { return cached }
        return fetchPinnedModel("text")
    }()

    /// Gemma 3 270M Q4_K_M (`gemma-3-270m` in Scripts/models.json), fetched pinned and checked by
    /// Scripts/fetch-model.sh on first use (a no-op once it is in the model cache).
    static let gemma3Path: String? = fetchPinnedModel("gemma-3-270m")
    /// Qwen2.5-Coder-0.5B-Instruct Q4_K_M (`qwen2.5-coder-0.5b`), the same way.
    static let qwenCoderPath: String? = fetchPinnedModel("qwen2.5-coder-0.5b")

    /// Runs `Scripts/fetch-model.sh NAME` (the project's one fetch) and returns the path it prints.
    static func fetchPinnedModel(_ name: String) -> String? {
        let script = fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/fetch-model.sh")
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, name]
        process.standardOutput = output
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static func loadModel(_ options: ModelOptions = ModelOptions(threadCount: 2, activationPrecision: precision)) throws -> TransformerModel {
        let path = try #require(modelPath, "the default model is missing: run Scripts/fetch-model.sh")
        return try TransformerModel(path: path, options: options)
    }

    static let precision: ActivationPrecision =
        ProcessInfo.processInfo.environment["KILN_TEST_PRECISION"] == "float32" ? .float32 : .int8

    struct Reference: Decodable {
        var greedy: [GreedyCase]
    }

    struct GreedyCase: Decodable {
        var prompt: String
        var prompt_ids: [Int32]
        var ids: [Int32]
        var steps: [Step]
    }

    struct Step: Decodable {
        var id: Int32
        /// Top five `[token id, log-probability]`.
        var top: [[Double]]
        var topLogProbability: Double { top[0][1] }
        /// How far llama.cpp's first choice leads its second, in log-probability.
        var topGap: Double { top[0][1] - top[1][1] }
    }

    /// llama.cpp's reference run on the default model.
    static let reference = loadReference("smollm2/llamacpp-reference.json")
    /// llama.cpp's reference run on Gemma 3 270M.
    static let gemma3Reference = loadReference("gemma3-270m/llamacpp-reference.json")
    /// llama.cpp's reference run on Qwen2.5-Coder-0.5B-Instruct.
    static let qwenCoderReference = loadReference("qwen2.5-coder-0.5b/llamacpp-reference.json")

    static func loadReference(_ path: String) -> Reference {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent(path))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }

    /// The arg-max token of `logits` and its log-probability (log-softmax over the vocabulary).
    static func top(_ logits: UnsafeBufferPointer<Float>) -> (token: Int32, logProbability: Double) {
        var best = 0
        for index in 1..<logits.count where logits[index] > logits[best] { best = index }
        let normalizer = TokenLogProbabilities.logNormalizer(logits)
        return (Int32(best), Double(logits[best]) - normalizer)
    }
}
