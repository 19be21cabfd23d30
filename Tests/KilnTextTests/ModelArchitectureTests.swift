import Foundation
import KilnText
import Testing

/// The architectures on tiny random models (Tests/Fixtures/tiny-models, made by
/// make_tiny_models.py and make_tiny_gemma3.py with float64 numpy logits): `llama` with F16
/// matrices, an untied output and linear RoPE scaling; `qwen2` with Q/K/V biases, NeoX RoPE and a
/// tied output; `gemma3` with a sliding window of 4 that cuts the 12-token sequence, its own RoPE
/// base, query/key and post norms, GeGLU, scaled embeddings and soft-capped logits; `qwen3` with
/// query/key norms and a head width (32) other than width / heads (made by make_tiny_qwen3.py).
@Suite struct ModelArchitectureTests {
    struct Reference: Decodable {
        var tokens: [Int32]
        var rows: [String: [[Double]]]

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            tokens = try container.decode([Int32].self, forKey: AnyKey("tokens"))
            rows = [:]
            for name in ["tiny-llama", "tiny-qwen2", "tiny-gemma3", "tiny-qwen3"] {
                if let row = try container.decodeIfPresent([[Double]].self, forKey: AnyKey(name)) { rows[name] = row }
            }
        }

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    static let directory = ModelFixtures.fixtures.appendingPathComponent("tiny-models")
    static let reference = try! JSONDecoder().decode(
        Reference.self, from: Data(contentsOf: directory.appendingPathComponent("tiny-reference.json")))
    static let gemma3Reference = try! JSONDecoder().decode(
        Reference.self, from: Data(contentsOf: directory.appendingPathComponent("tiny-gemma3-reference.json")))

    static let qwen3Reference = try! JSONDecoder().decode(
        Reference.self, from: Data(contentsOf: directory.appendingPathComponent("tiny-qwen3-reference.json")))

    @Test(arguments: ["tiny-llama", "tiny-qwen2", "tiny-gemma3", "tiny-qwen3"])
    func logitsMatchTheFloat64Reference(name: String) throws {
        let reference =
            switch name {
            case "tiny-gemma3": Self.gemma3Reference
            case "tiny-qwen3": Self.qwen3Reference
            default: Self.reference
            }
        let path = Self.directory.appendingPathComponent(name + ".gguf").path
        let model = try TransformerModel(
            path: path,
            options: ModelOptions(
                threadCount: 1, activationPrecision: .float32,
                kvCacheType: .f32))
        let expected = try #require(reference.rows[name])
        let runner = try SequenceRunner(model: model)
        let logits = try runner.feedReturningAllLogits(reference.tokens)
        var worst = 0.0
        for (position, row) in expected.enumerated() {
            let actual = logits.row(position)
            let normalizer = TokenLogProbabilities.logNormalizer(actual)
            for (token, value) in row.enumerated() {
                worst = max(worst, abs(Double(actual[token]) - normalizer - value))
            }
        }
        print("\(name): \(expected.count) positions × \(expected[0].count) tokens, largest log-probability difference \(worst)")
        #expect(worst < 1e-4)
    }

    @Test func architecturesAreReadFromMetadata() throws {
        let llama = try TransformerModel(
            path: Self.directory.appendingPathComponent("tiny-llama.gguf").path,
            options: ModelOptions(threadCount: 1))
        #expect(llama.configuration.architecture == .llama)
        #expect(llama.configuration.ropeLayout == .adjacent)
        #expect(llama.configuration.ropeFrequencyScale == 0.5)
        #expect(!llama.summary.outputIsTiedToEmbedding)
        #expect(llama.summary.tensorTypes.map(\.type) == ["F16", "F32"])
        let qwen = try TransformerModel(
            path: Self.directory.appendingPathComponent("tiny-qwen2.gguf").path,
            options: ModelOptions(threadCount: 1))
        #expect(qwen.configuration.architecture == .qwen2)
        #expect(qwen.configuration.ropeLayout == .halves)
        #expect(qwen.configuration.headCount == 4 && qwen.configuration.kvHeadCount == 2)
        #expect(qwen.configuration.vocabularySize == 96 && qwen.configuration.contextLength == 64)
        #expect(qwen.summary.outputIsTiedToEmbedding)
        let qwen3 = try TransformerModel(
            path: Self.directory.appendingPathComponent("tiny-qwen3.gguf").path,
            options: ModelOptions(threadCount: 1))
        #expect(qwen3.configuration.architecture == .qwen3 && qwen3.configuration.ropeLayout == .halves)
        #expect(qwen3.configuration.headDimension == 32 && qwen3.configuration.queryWidth == 128)
    }

    /// An architecture Kiln lacks is refused by name, listing the ones it has.
    @Test func unknownArchitectureNamesTheSupportedOnes() {
        let message = ModelError.unsupportedArchitecture("mamba").description
        #expect(message == "unsupported model architecture 'mamba' (supported: llama, qwen2, gemma3, qwen3, phi3)")
    }

    @Test func halfPrecisionCacheStaysCloseToTheFloatCache() throws {
        let path = Self.directory.appendingPathComponent("tiny-qwen2.gguf").path
        var rows: [[Float]] = []
        for type in [KVCacheElementType.f32, .f16] {
            let model = try TransformerModel(path: path, options: ModelOptions(threadCount: 1, kvCacheType: type))
            rows.append(Array(try SequenceRunner(model: model).feed(Self.reference.tokens)))
        }
        let difference = zip(rows[0], rows[1]).map { abs($0 - $1) }.max()!
        #expect(difference > 0 && difference < 0.01)
    }

    /// The default path (8-bit activations, half cache, llama.cpp's attention bodies) keeps the
    /// sliding window too: fed one token at a time, every position within 0.02 of the float64
    /// reference (half and 8-bit rounding), and the top token equal.
    @Test func slidingWindowHoldsOnTheDefaultPath() throws {
        let path = Self.directory.appendingPathComponent("tiny-gemma3.gguf").path
        let model = try TransformerModel(path: path, options: ModelOptions(threadCount: 2))
        let expected = try #require(Self.gemma3Reference.rows["tiny-gemma3"])
        let runner = try SequenceRunner(model: model)
        var worst = 0.0
        for (position, token) in Self.gemma3Reference.tokens.enumerated() {
            let logits = try runner.feed([token])
            let normalizer = TokenLogProbabilities.logNormalizer(logits)
            let row = expected[position]
            for (token, value) in row.enumerated() { worst = max(worst, abs(Double(logits[token]) - normalizer - value)) }
            #expect(ModelFixtures.top(logits).token == Int32(row.indices.max { row[$0] < row[$1] }!))
        }
        print("tiny-gemma3 on the default path: largest log-probability difference \(worst)")
        #expect(worst < 0.02)
    }
}
