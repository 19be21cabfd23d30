import Foundation
import KilnText
import Testing

/// The two architectures on tiny random models (Tests/Fixtures/tiny-models, made by
/// make_tiny_models.py with float64 numpy logits): `llama` with F16 matrices, an untied output
/// and linear RoPE scaling; `qwen2` with Q/K/V biases, NeoX RoPE and a tied output.
@Suite struct ModelArchitectureTests {
    struct Reference: Decodable {
        var tokens: [Int32]
        var rows: [String: [[Double]]]

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            tokens = try container.decode([Int32].self, forKey: AnyKey("tokens"))
            rows = [:]
            for name in ["tiny-llama", "tiny-qwen2"] {
                rows[name] = try container.decode([[Double]].self, forKey: AnyKey(name))
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

    @Test(arguments: ["tiny-llama", "tiny-qwen2"])
    func logitsMatchTheFloat64Reference(name: String) throws {
        let path = Self.directory.appendingPathComponent(name + ".gguf").path
        let model = try TransformerModel(
            path: path,
            options: ModelOptions(
                threadCount: 1, activationPrecision: .float32,
                kvCacheType: .f32))
        let expected = try #require(Self.reference.rows[name])
        let runner = try SequenceRunner(model: model)
        let logits = try runner.feedReturningAllLogits(Self.reference.tokens)
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
}
