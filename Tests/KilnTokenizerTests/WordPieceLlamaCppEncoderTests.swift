import Foundation
import KilnTokenizer
import Testing

/// The vocabulary of an encoder GGUF made by llama.cpp's `convert_hf_to_gguf.py` (the tiny BERT of
/// Tests/Fixtures/embeddings: all-MiniLM-L6-v2's WordPiece cut to 3000 tokens) tokenizes the
/// embedding reference's sentences as llama.cpp's server did (its /tokenize, special tokens added
/// and parsed in the text, as its embeddings endpoint tokenizes), but where Kiln follows the
/// model's own (Hugging Face) tokenizer on purpose (`TokenizerVocabulary.applyWordPieceDefaults`):
/// a word over 100 characters is [UNK] there and in Kiln, and split into pieces by llama.cpp.
@Suite struct WordPieceLlamaCppEncoderTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int32]
        }
        var cases: [Case]
    }

    @Test func idsEqualLlamaCppServers() throws {
        let directory = TokenizerFixtures.directory.appendingPathComponent("embeddings")
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: directory.appendingPathComponent("tiny-bert-llamacpp.json")))
        let tokenizer = try Tokenizer(modelAt: directory.appendingPathComponent("tiny-bert-f16.gguf").path)
        #expect(reference.cases.count >= 50)
        let longWord = { (text: String) in text.split(whereSeparator: \.isWhitespace).contains { $0.count > 100 } }
        #expect(reference.cases.filter { longWord($0.text) }.count == 2)
        for item in reference.cases where !longWord(item.text) {
            let ids = tokenizer.encode(item.text, addSpecial: false, parseSpecial: true)
            let input = try #require(tokenizer.encoderInput(ids, limit: 512, truncate: false))
            #expect(input == item.ids, "\(item.text.prefix(40).debugDescription)")
        }
    }
}
