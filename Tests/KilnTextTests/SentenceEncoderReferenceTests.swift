import Foundation
import KilnTensor
import KilnText
import Testing

/// The default embedding model (all-MiniLM-L6-v2) against sentence-transformers on torch:
/// `Tests/Fixtures/embeddings/minilm-reference.json`, made by
/// `Scripts/fixtures/make-embedding-reference.py` (see the PROVENANCE file beside it).
@Suite struct SentenceEncoderReferenceTests {
    struct Reference: Decodable {
        var max_seq_length: Int
        var dimensions: Int
        var cases: [Case]
    }

    struct Case: Decodable {
        var text: String
        var ids: [Int32]
        var truncated: Bool
        var embedding: [Float]
    }

    static let reference: Reference = {
        let url = ModelFixtures.fixtures.appendingPathComponent("embeddings/minilm-reference.json")
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    static func loadEncoder(threads: Int = 2) throws -> SentenceEncoder {
        let path = try #require(EmbeddingModelFixture.path, "the default embedding model is missing: run Scripts/fetch-model.sh embedding")
        return try SentenceEncoder(directory: path, kernels: KernelContext(threads: threads))
    }

    @Test func folderSettingsAreRead() throws {
        let encoder = try Self.loadEncoder()
        #expect(encoder.pooling == .mean)
        #expect(encoder.normalizes)
        #expect(encoder.maxInputTokens == Self.reference.max_seq_length)
        #expect(encoder.dimensions == Self.reference.dimensions)
    }

    /// Cosine ≥ 0.9999 and every component within 1e-4 of sentence-transformers, for inputs
    /// embedded one at a time and all together (one batch of mixed lengths, no padding).
    @Test(arguments: [false, true]) func matchesSentenceTransformers(batched: Bool) throws {
        let encoder = try Self.loadEncoder()
        let cases = Self.reference.cases
        #expect(cases.count >= 50)
        let vectors = batched ? try encoder.embed(cases.map(\.ids)) : try cases.map { try encoder.embed([$0.ids])[0] }
        for (item, vector) in zip(cases, vectors) {
            var dot = 0.0, normA = 0.0, normB = 0.0, worst: Float = 0
            for (a, b) in zip(vector, item.embedding) {
                dot += Double(a) * Double(b)
                normA += Double(a) * Double(a)
                normB += Double(b) * Double(b)
                worst = max(worst, abs(a - b))
            }
            let cosine = dot / (normA.squareRoot() * normB.squareRoot())
            #expect(cosine >= 0.9999, "cosine \(cosine) for \(item.text.prefix(40).debugDescription)")
            #expect(worst <= 1e-4, "max-abs \(worst) for \(item.text.prefix(40).debugDescription)")
        }
    }

    @Test func batchingDoesNotChangeAVector() throws {
        let encoder = try Self.loadEncoder()
        let cases = Self.reference.cases
        let alone = try encoder.embed([cases[3].ids])[0]
        let together = try encoder.embed(cases.prefix(20).map(\.ids))[3]
        #expect(alone == together)
    }

    /// A pass run in slices of any size (as the scheduler runs it beside text) gives exactly the
    /// vectors of the whole pass at once.
    @Test(arguments: [1, 7, 16, 100]) func slicedPassesEqualWholeOnes(tokenRows: Int) throws {
        let encoder = try Self.loadEncoder()
        let inputs = Self.reference.cases.prefix(6).map(\.ids)
        let whole = try encoder.embed(inputs)
        let pass = try encoder.startPass(inputs)
        var slices = 0
        while !pass.isComplete {
            encoder.advance(pass, tokenRows: tokenRows)
            slices += 1
        }
        #expect(encoder.finish(pass) == whole)
        // Each layer visits every token three times, in slices of at most `tokenRows` visits
        // (attention takes whole inputs, so it may need fewer slices, never more).
        let total = inputs.reduce(0) { $0 + $1.count }
        #expect(slices <= encoder.configuration.layers * (2 * ((total + tokenRows - 1) / tokenRows) + inputs.count))
    }

    @Test func badInputsAreRefusedBeforeAnythingRuns() throws {
        let encoder = try Self.loadEncoder()
        #expect(throws: ModelError.self) { try encoder.embed([[]]) }
        #expect(throws: ModelError.self) { try encoder.embed([[101, 30_522, 102]]) }
        #expect(throws: ModelError.self) { try encoder.embed([[Int32](repeating: 1000, count: encoder.maxInputTokens + 1)]) }
        #expect(try encoder.embed([]).isEmpty)
    }
}

/// Where the default embedding model is: `$KILN_DEFAULT_EMBEDDING_MODEL`, the cache, or fetched.
enum EmbeddingModelFixture {
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_EMBEDDING_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/all-MiniLM-L6-v2"
        return FileManager.default.fileExists(atPath: cached + "/model.safetensors") ? cached : nil
    }()
}
