import Foundation
import KilnFormats
import KilnText
import Testing

/// Hyperparameters from metadata, the load summary, and clear errors for bad batches.
@Suite struct ModelLoadingTests {
    @Test func smolLM2HyperparametersComeFromMetadata() throws {
        let model = try ModelFixtures.loadModel()
        let c = model.configuration
        #expect(c.architecture == .llama)
        #expect(c.vocabularySize == 49152)
        #expect(c.contextLength == 8192)
        #expect(c.embeddingLength == 576)
        #expect(c.blockCount == 30)
        #expect(c.feedForwardLength == 1536)
        #expect(c.headCount == 9 && c.kvHeadCount == 3 && c.headDimension == 64)
        #expect(c.ropeFrequencyBase == 100_000 && c.ropeFrequencyScale == 1 && c.ropeLayout == .adjacent)
        #expect(abs(c.rmsNormEpsilon - 1e-5) < 1e-9)
        #expect(model.summary.outputIsTiedToEmbedding)
        #expect(model.summary.tensorTypes.map(\.type) == ["Q4_1", "F32", "Q8_0"])
        #expect(model.summary.tensorTypes.map(\.count) == [210, 61, 1])
        #expect(model.summary.parameterCount > 134_000_000 && model.summary.parameterCount < 135_000_000)
    }

    @Test func contextLengthIsEnforcedWithAClearError() throws {
        let model = try ModelFixtures.loadModel(ModelOptions(threadCount: 1, contextLength: 20))
        #expect(model.contextLength == 20)
        let runner = try SequenceRunner(model: model)
        _ = try runner.feed([Int32](repeating: 504, count: 18))
        #expect(throws: ModelError.contextLengthExceeded(position: 20, limit: 20)) {
            _ = try runner.feed([1, 2, 3])
        }
        #expect(runner.length == 18)
        #expect(throws: ModelError.self) { _ = try SequenceRunner(model: model, capacity: 21) }
        let cache = try model.makeKVCache(blockCount: 4)
        let batch = try model.makeBatch(cache: cache)
        #expect(throws: ModelError.contextLengthExceeded(position: 20, limit: 20)) {
            try batch.append(tokens: [1, 2], startPosition: 19, blockTable: [0, 1])
        }
    }

    @Test func badBatchesAreRefusedBeforeAnythingIsWritten() throws {
        let model = try ModelFixtures.loadModel(ModelOptions(threadCount: 1, maximumBatchTokens: 8, maximumLogitRows: 4))
        let cache = try model.makeKVCache(blockCount: 2, blockSize: 16)
        let batch = try model.makeBatch(cache: cache, maximumSequenceCount: 2)
        #expect(throws: ModelError.self) { try batch.append(tokens: [Int32](), startPosition: 0, blockTable: [0]) }
        #expect(throws: ModelError.self) {
            try batch.append(tokens: [Int32](repeating: 1, count: 9), startPosition: 0, blockTable: [0])
        }
        #expect(throws: ModelError.self) { try batch.append(tokens: [1], startPosition: 16, blockTable: [0]) }
        #expect(throws: ModelError.self) { try batch.append(tokens: [1], startPosition: -1, blockTable: [0]) }

        try batch.append(tokens: [49152], startPosition: 0, blockTable: [0])
        #expect(throws: ModelError.tokenOutOfRange(token: 49152, vocabularySize: 49152)) {
            _ = try model.forward(batch, cache: cache)
        }
        batch.removeAll()
        try batch.append(tokens: [1], startPosition: 0, blockTable: [2])
        #expect(throws: ModelError.self) { _ = try model.forward(batch, cache: cache) }
        batch.removeAll()
        try batch.append(tokens: [1, 2, 3, 4, 5], startPosition: 0, blockTable: [0], logits: .all)
        #expect(throws: ModelError.self) { _ = try model.forward(batch, cache: cache) }

        #expect(throws: ModelError.self) { _ = try model.makeKVCache(blockCount: 2, blockSize: 0) }
        let otherBlockSize = try model.makeKVCache(blockCount: 2, blockSize: 8)
        batch.removeAll()
        try batch.append(tokens: [1], startPosition: 0, blockTable: [0])
        #expect(throws: ModelError.self) { _ = try model.forward(batch, cache: otherBlockSize) }
        #expect(throws: ModelError.self) { _ = try model.makeKVCache(blockCount: 0) }
        #expect(throws: ModelError.self) { _ = try model.makeKVCache(blockCount: 1 << 40) }
        #expect(throws: ModelError.self) { try cache.copyBlock(0, to: 5) }
    }

    @Test func invalidOptionsAndFilesAreErrors() throws {
        let path = try #require(ModelFixtures.modelPath)
        #expect(throws: ModelError.self) { _ = try TransformerModel(path: path, options: ModelOptions(threadCount: 0)) }
        #expect(throws: ModelError.self) {
            _ = try TransformerModel(path: path, options: ModelOptions(maximumBatchTokens: 0))
        }
        // A vocabulary-only file has no weights.
        let vocabulary = ModelFixtures.fixtures.appendingPathComponent("vocab/ggml-vocab-qwen2.gguf").path
        #expect(throws: ModelError.self) { _ = try TransformerModel(path: vocabulary) }
        #expect(throws: (any Error).self) { _ = try TransformerModel(path: "/nonexistent/model.gguf") }
    }
}
