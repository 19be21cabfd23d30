import Foundation
import KilnText
import Testing

/// The default language model (SmolLM2) as an embedder: pooled final hidden states, whatever the
/// chunking, equal to the states of one whole forward step pooled by hand.
@Suite struct DecoderEmbedderTests {
    static let prompts: [[Int32]] = ModelFixtures.reference.greedy.prefix(3).map(\.prompt_ids)

    static func options() -> ModelOptions {
        var options = ModelOptions(threadCount: 2, activationPrecision: ModelFixtures.precision)
        options.attentionSelection = .positionOnly
        return options
    }

    @Test(arguments: [EmbeddingPooling.mean, .lastToken])
    func pooledStatesMatchOneWholeStep(pooling: EmbeddingPooling) throws {
        let model = try ModelFixtures.loadModel(Self.options())
        let embedder = try DecoderEmbedder(model: model, pooling: pooling, maxInputTokens: 256)
        let vectors = try {
            let pass = try embedder.startPass(Self.prompts)
            try embedder.advance(pass, tokenRows: .max)
            return embedder.finish(pass)
        }()
        // By hand: one step over each whole prompt in a cache of its own, pooled and normalised.
        let cache = try model.makeKVCache(blockCount: 16, blockSize: 16)
        let batch = try model.makeBatch(cache: cache, maximumSequenceCount: 1)
        let width = model.configuration.embeddingLength
        for (prompt, vector) in zip(Self.prompts, vectors) {
            batch.removeAll()
            try batch.append(tokens: prompt, startPosition: 0, blockTable: (0..<16).map { Int32($0) }, logits: .none)
            let states = try model.hiddenStates(batch, cache: cache)
            var expected = [Double](repeating: 0, count: width)
            for dimension in 0..<width {
                switch pooling {
                case .mean:
                    expected[dimension] = (0..<prompt.count).reduce(0.0) { $0 + Double(states[$1 * width + dimension]) } / Double(prompt.count)
                default: expected[dimension] = Double(states[(prompt.count - 1) * width + dimension])
                }
            }
            let norm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let worst = zip(vector, expected).map { abs(Double($0) - $1 / norm) }.max()!
            #expect(vector.count == width && worst < 1e-6, "max-abs \(worst)")
        }
    }

    /// Chunks of any size give the same vectors (a prompt's states do not depend on how it was
    /// split), so the scheduler may spread a pass over its iterations.
    @Test func chunkingDoesNotChangeTheVectors() throws {
        let model = try ModelFixtures.loadModel(Self.options())
        let embedder = try DecoderEmbedder(model: model, pooling: .mean, maxInputTokens: 256)
        func run(_ budget: Int) throws -> [[Float]] {
            let pass = try embedder.startPass(Self.prompts)
            while !pass.isComplete { try embedder.advance(pass, tokenRows: budget) }
            return embedder.finish(pass)
        }
        let whole = try run(.max)
        for budget in [1, 5, 13] {
            let sliced = try run(budget)
            let worst = zip(whole.joined(), sliced.joined()).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-6, "budget \(budget): max-abs \(worst)")
        }
    }

    struct LlamaCppEmbeddings: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int32]
            var embedding: [Float]
        }
        var pooling: [String: [Case]]
    }

    /// Against llama.cpp's server with `--embedding --pooling mean|last` on the same model and
    /// token ids (`Tests/Fixtures/smollm2/llamacpp-embeddings.json`, made by
    /// `Scripts/fixtures/make-llamacpp-decoder-embeddings.py`). The two agree to the precision the
    /// text reference tests allow (log-probabilities within 0.05): llama.cpp's flash attention
    /// keeps K and V in f16 and its products sum 8-bit activations in another order, which moves
    /// a final state's components by up to ~1% of the largest. Measured: cosine 0.99965–0.99986,
    /// max-abs 0.002–0.010 over 20 vectors; the test asks cosine ≥ 0.999, max-abs ≤ 0.015.
    @Test(arguments: [("mean", EmbeddingPooling.mean), ("last", .lastToken)])
    func matchesLlamaCppServer(pooling: (name: String, value: EmbeddingPooling)) throws {
        let url = ModelFixtures.fixtures.appendingPathComponent("smollm2/llamacpp-embeddings.json")
        let reference = try JSONDecoder().decode(LlamaCppEmbeddings.self, from: Data(contentsOf: url))
        let cases = try #require(reference.pooling[pooling.name])
        #expect(cases.count >= 10)
        let model = try ModelFixtures.loadModel(Self.options())
        let embedder = try DecoderEmbedder(model: model, pooling: pooling.value, maxInputTokens: 256)
        let pass = try embedder.startPass(cases.map(\.ids))
        try embedder.advance(pass, tokenRows: .max)
        for (item, vector) in zip(cases, embedder.finish(pass)) {
            var dot = 0.0, worst: Float = 0
            for (a, b) in zip(vector, item.embedding) {
                dot += Double(a) * Double(b)
                worst = max(worst, abs(a - b))
            }
            let norm = item.embedding.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(dot / norm >= 0.999, "cosine \(dot / norm) for \(item.text.debugDescription)")
            #expect(worst <= 0.015, "max-abs \(worst) for \(item.text.debugDescription)")
        }
    }

    @Test func badInputsAreRefused() throws {
        let model = try ModelFixtures.loadModel(Self.options())
        let embedder = try DecoderEmbedder(model: model, pooling: .lastToken, maxInputTokens: 8)
        #expect(throws: ModelError.self) { try embedder.startPass([]) }
        #expect(throws: ModelError.self) { try embedder.startPass([[]]) }
        #expect(throws: ModelError.self) { try embedder.startPass([[Int32](repeating: 1, count: 9)]) }
        #expect(throws: ModelError.self) { try embedder.startPass([[-1]]) }
        #expect(throws: ModelError.self) { try DecoderEmbedder(model: model, pooling: .mean, maxInputTokens: 0) }
    }
}
