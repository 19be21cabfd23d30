import Foundation
import KilnText
import Testing

/// Shared by the model tests: the default model and the llama.cpp reference fixture.
enum ModelFixtures {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The default model: `$KILN_DEFAULT_MODEL`, the cache path, or fetched by Scripts/fetch-model.sh.
    static let modelPath: String? = {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: cached) { return cached }
        let script = fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/fetch-model.sh")
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path]
        process.standardOutput = output
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let path = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && FileManager.default.fileExists(atPath: path) ? path : nil
    }()

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

    static let reference: Reference = {
        let url = fixtures.appendingPathComponent("smollm2/llamacpp-reference.json")
        let data = try! Data(contentsOf: url)
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    /// The arg-max token of `logits` and its log-probability (log-softmax over the vocabulary).
    static func top(_ logits: UnsafeBufferPointer<Float>) -> (token: Int32, logProbability: Double) {
        var best = 0
        for index in 1..<logits.count where logits[index] > logits[best] { best = index }
        let normalizer = TokenLogProbabilities.logNormalizer(logits)
        return (Int32(best), Double(logits[best]) - normalizer)
    }
}

/// The forward pass against two references on the default model (SmolLM2-135M-Instruct Q4_1).
///
/// 1. A float64 numpy computation (Tests/Fixtures/smollm2/make_float64_reference.py): Kiln with
///    float activations must agree to 2e-3 in log-probability: this checks the architecture.
/// 2. llama.cpp's greedy runs, with the issue's criterion: Kiln's greedy tokens equal llama.cpp's up
///    to the first step where llama.cpp's own top-2 log-probabilities are within 0.05 of each other,
///    and the top-1 log-probability of every step agrees within 0.05 (teacher-forced with llama.cpp's
///    tokens at every step, and free-running up to that first near-tie). Kiln's default path
///    reproduces llama.cpp's CPU arithmetic (8-bit activations with half scales, products in its
///    order, flash attention with a half accumulator, RoPE angles, RMSNorm and SwiGLU rounded as
///    ggml rounds them: see Scripts/fixtures/llamacpp-emulation.py), so the two agree to ~1e-4 where
///    a differently rounded implementation drifts by up to 0.5.
@Suite(.serialized) struct ModelReferenceTests {
    /// The issue's tolerance, for both the top-1 log-probability and the near-tie margin.
    static let tolerance = 0.05

    struct Float64Reference: Decodable {
        struct Position: Decodable {
            var position: Int
            var top: [[Double]]
        }
        var tokens: [Int32]
        var positions: [Position]
    }

    @Test func floatActivationsMatchTheFloat64Reference() throws {
        let url = ModelFixtures.fixtures.appendingPathComponent("smollm2/float64-reference.json")
        let reference = try JSONDecoder().decode(Float64Reference.self, from: Data(contentsOf: url))
        let model = try ModelFixtures.loadModel(
            ModelOptions(
                threadCount: 2, activationPrecision: .float32,
                kvCacheType: .f32))
        let runner = try SequenceRunner(model: model, capacity: 16)
        let logits = try runner.feedReturningAllLogits(reference.tokens)
        var worst = 0.0
        for position in reference.positions {
            let row = logits.row(position.position)
            let normalizer = TokenLogProbabilities.logNormalizer(row)
            #expect(ModelFixtures.top(row).token == Int32(position.top[0][0]), "position \(position.position)")
            for entry in position.top {
                let difference = abs(Double(row[Int(entry[0])]) - normalizer - entry[1])
                worst = max(worst, difference)
                #expect(difference < 2e-3, "position \(position.position) token \(Int(entry[0]))")
            }
        }
        print("float64 reference: \(reference.positions.count) positions × 10 tokens, largest log-probability difference \(worst)")
    }

    /// Free-running greedy decoding from each prompt, compared with llama.cpp's tokens up to its first
    /// near-tie (top-2 log-probabilities within 0.05), with the top-1 log-probability of each of those
    /// steps within 0.05.
    @Test(arguments: 0..<6)
    func greedyTokensMatchLlamaCpp(caseIndex: Int) throws {
        let reference = ModelFixtures.reference.greedy[caseIndex]
        let model = try ModelFixtures.loadModel()
        let runner = try SequenceRunner(model: model, capacity: reference.prompt_ids.count + reference.ids.count + 1)
        var logits = try runner.feed(reference.prompt_ids)
        let nearTie = reference.steps.firstIndex { $0.topGap < Self.tolerance } ?? reference.steps.count
        var matched = 0
        var worst = 0.0
        for (index, step) in reference.steps.enumerated() {
            let (token, logProbability) = ModelFixtures.top(logits)
            if index < nearTie {
                let difference = abs(logProbability - step.topLogProbability)
                worst = max(worst, difference)
                #expect(
                    difference < Self.tolerance,
                    "case \(caseIndex) step \(index): log p \(logProbability) vs llama.cpp \(step.topLogProbability)")
            }
            guard token == step.id else { break }
            matched += 1
            if index + 1 < reference.steps.count { logits = try runner.feed([token]) }
        }
        print(
            "greedy case \(caseIndex): \(matched) of \(reference.steps.count) tokens equal llama.cpp's; its first "
                + "top-2 gap < \(Self.tolerance) is at step \(nearTie); largest |Δ log p| before it \(String(format: "%.6f", worst))")
        #expect(matched >= nearTie, "case \(caseIndex): tokens part at step \(matched) before llama.cpp's first near-tie at \(nearTie)")
    }

    /// Teacher forcing: with llama.cpp's tokens as the context, every step's top-1 log-probability
    /// within 0.05 of llama.cpp's, and the top token equal wherever llama.cpp's lead is at least 0.05.
    @Test(arguments: 0..<6)
    func everyStepAgreesGivenLlamaCppTokens(caseIndex: Int) throws {
        let reference = ModelFixtures.reference.greedy[caseIndex]
        let model = try ModelFixtures.loadModel()
        let runner = try SequenceRunner(model: model, capacity: reference.prompt_ids.count + reference.ids.count)
        var tops = [ModelFixtures.top(try runner.feed(reference.prompt_ids))]
        // One token per step, as llama.cpp decoded them (its attention for a lone token differs from
        // that for several).
        for token in reference.ids.dropLast() { tops.append(ModelFixtures.top(try runner.feed([token]))) }
        var differences: [Double] = []
        var agreements = 0
        for (index, step) in reference.steps.enumerated() {
            let (token, logProbability) = tops[index]
            if token == step.id { agreements += 1 }
            let difference = abs(logProbability - step.topLogProbability)
            differences.append(difference)
            #expect(
                difference < Self.tolerance,
                "case \(caseIndex) step \(index): log p \(logProbability) vs llama.cpp \(step.topLogProbability)")
            if step.topGap >= Self.tolerance {
                #expect(token == step.id, "case \(caseIndex) step \(index): Kiln's top \(token), llama.cpp's \(step.id)")
            }
        }
        let mean = differences.reduce(0, +) / Double(differences.count)
        let within = differences.filter { $0 < Self.tolerance }.count
        print(
            "teacher-forced case \(caseIndex): \(differences.count) steps, \(within) within \(Self.tolerance), "
                + "max |Δ log p| \(String(format: "%.6f", differences.max()!)), mean \(String(format: "%.6f", mean)), "
                + "top token equal at \(agreements)")
    }
}
