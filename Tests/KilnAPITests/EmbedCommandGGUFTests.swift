import Foundation
import Testing

/// `kiln embed --model FILE.gguf`: the binary loads a llama.cpp `bert` GGUF with the vocabulary in
/// its metadata and prints llama.cpp's server's vectors (the tiny BERT of
/// Tests/Fixtures/embeddings and its llama.cpp reference, see SentenceEncoderGGUFTests).
@Suite struct EmbedCommandGGUFTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            var text: String
            var embedding_f32: [Float]
        }
        var cases: [Case]
    }

    @Test func printsLlamaCppServersVectorsFromText() throws {
        let directory = ServeCommandTests.repositoryRoot.appendingPathComponent("Tests/Fixtures/embeddings")
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: directory.appendingPathComponent("tiny-bert-llamacpp.json")))
        let cases = reference.cases.filter { !$0.text.contains("\n") && !$0.text.hasPrefix("-") }.prefix(12)
        let (status, output, errors) = try ServeCommandTests.run(
            ServeCommandTests.binary,
            ["embed", "--model", directory.appendingPathComponent("tiny-bert-f32.gguf").path, "--threads", "1"] + cases.map(\.text))
        #expect(status == 0, "\(errors)")
        let vectors = try JSONDecoder().decode([[Float]].self, from: Data(output.utf8))
        #expect(vectors.count == cases.count)
        for (item, vector) in zip(cases, vectors) {
            var dot = 0.0
            for (a, b) in zip(vector, item.embedding_f32) { dot += Double(a) * Double(b) }
            #expect(dot >= 0.9999, "cosine \(dot) for \(item.text.prefix(40).debugDescription)")
        }
    }
}
