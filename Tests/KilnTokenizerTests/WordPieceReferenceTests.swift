import Foundation
import KilnTokenizer
import Testing

/// The WordPiece fixtures (Tests/Fixtures/wordpiece/PROVENANCE.md): llama.cpp's bert-bge
/// vocabulary test, and Hugging Face `tokenizers` ids over all-MiniLM-L6-v2's tokenizer.json.
enum WordPieceFixtures {
    static let directory = TokenizerFixtures.directory.appendingPathComponent("wordpiece")
    static let bertBGEPath = directory.appendingPathComponent("ggml-vocab-bert-bge.gguf").path
    static let miniLMPath = directory.appendingPathComponent("all-minilm-l6-v2-tokenizer.json").path

    private static let cache = TokenizerCache()

    static func bertBGE() throws -> Tokenizer { try cache.tokenizer(at: bertBGEPath) }

    static func miniLM() throws -> Tokenizer { try Tokenizer(huggingFaceJSONAt: miniLMPath) }

    /// llama.cpp's cases for bert-bge, read as `TokenizerFixtures.cases` reads the others.
    static func bertBGECases() throws -> [(text: String, ids: [Int32])] {
        let input = String(decoding: try Data(contentsOf: URL(fileURLWithPath: bertBGEPath + ".inp")), as: UTF8.self)
        let output = String(decoding: try Data(contentsOf: URL(fileURLWithPath: bertBGEPath + ".out")), as: UTF8.self)
        var texts = input.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        precondition(texts.count == lines.count, "bert-bge: \(texts.count) inputs but \(lines.count) outputs")
        return zip(texts, lines).map { text, line in (text, line.split(separator: " ").map { Int32($0)! }) }
    }

    struct Case: Decodable {
        var text: String
        var ids: [Int32]
        var decoded: String
    }

    /// Decoded with `JSONDecoder`, which keeps a leading U+FEFF (see vocab/PROVENANCE.md).
    static func huggingFaceCases() throws -> [Case] {
        struct Document: Decodable {
            var cases: [Case]
        }
        let url = directory.appendingPathComponent("wordpiece-cases.json")
        return try JSONDecoder().decode(Document.self, from: Data(contentsOf: url)).cases
    }
}

extension WordPieceFixtures {
    /// wordpiece-codepoints.json: each text is `chunk` consecutive code points of `ranges`,
    /// joined by spaces, with Hugging Face's ids for it.
    static func codepointCases() throws -> [(text: String, ids: [Int32])] {
        struct Document: Decodable {
            var ranges: [[UInt32]]
            var chunk: Int
            var ids: [String]
        }
        let url = directory.appendingPathComponent("wordpiece-codepoints.json")
        let document = try JSONDecoder().decode(Document.self, from: Data(contentsOf: url))
        let scalars = document.ranges.flatMap { $0[0]..<$0[1] }.map { Unicode.Scalar($0)! }
        return document.ids.enumerated().map { index, line in
            let chunk = scalars[(index * document.chunk)..<min(scalars.count, (index + 1) * document.chunk)]
            let text = chunk.map { String(Character($0)) }.joined(separator: " ")
            return (text, line.split(separator: " ").map { Int32($0)! })
        }
    }
}

@Suite("WordPiece against llama.cpp and Hugging Face")
struct WordPieceReferenceTests {
    /// llama.cpp's test-tokenizer-0 for bert-bge: no special tokens added or parsed.
    @Test func bertBGEVocabularyCases() throws {
        let tokenizer = try WordPieceFixtures.bertBGE()
        #expect(tokenizer.kind == .wordPiece)
        let cases = try WordPieceFixtures.bertBGECases()
        #expect(cases.count == 46)
        var passed = 0
        for (text, expected) in cases {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
            #expect(ids == expected, "bert-bge: \(text.debugDescription)")
            if ids == expected { passed += 1 }
            // llama.cpp's add_special puts [CLS] before and [SEP] after, always.
            #expect(tokenizer.encode(text, addSpecial: true) == [101] + expected + [102])
        }
        print("tokenizer reference bert-bge: \(passed)/\(cases.count) cases match llama.cpp")
    }

    /// Every fixture text, id for id as `tokenizers` with `add_special_tokens=True`, and decoded
    /// as its WordPiece decoder does without special tokens or clean-up.
    @Test func miniLMHuggingFaceCases() throws {
        let tokenizer = try WordPieceFixtures.miniLM()
        let cases = try WordPieceFixtures.huggingFaceCases()
        #expect(cases.count >= 60)
        var passed = 0
        for entry in cases {
            let ids = tokenizer.encode(entry.text, addSpecial: true, parseSpecial: false)
            #expect(ids == entry.ids, "\(entry.text.debugDescription)")
            if ids == entry.ids { passed += 1 }
            #expect(tokenizer.decode(entry.ids, renderSpecial: false) == entry.decoded, "\(entry.text.debugDescription)")
        }
        print("tokenizer reference all-MiniLM-L6-v2: \(passed)/\(cases.count) cases match Hugging Face tokenizers")
    }

    /// Every character of the Basic Multilingual Plane and of the emoji, CJK and tag ranges:
    /// what the normaliser drops, decomposes, lower-cases or isolates, and what the
    /// pre-tokenizer calls punctuation, as Hugging Face decides it.
    @Test func miniLMEveryCodePoint() throws {
        let tokenizer = try WordPieceFixtures.miniLM()
        let cases = try WordPieceFixtures.codepointCases()
        #expect(cases.count == 1155)
        var passed = 0
        for (text, expected) in cases {
            let ids = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            if ids == expected {
                passed += 1
                continue
            }
            let scalars = text.unicodeScalars.filter { $0 != " " }
            let first = String(scalars.first!.value, radix: 16), last = String(scalars.last!.value, radix: 16)
            #expect(ids == expected, "U+\(first)…U+\(last)")
        }
        print("tokenizer reference all-MiniLM-L6-v2 code points: \(passed)/\(cases.count) texts match Hugging Face tokenizers")
    }

    /// The GGUF (llama.cpp's `▁` form) and the tokenizer.json (`##` form) hold the same BERT
    /// uncased vocabulary, so both paths must give the same ids for every text, once special
    /// tokens in the text are parsed by both.
    @Test func ggufAndTokenizerJSONAgree() throws {
        let gguf = try WordPieceFixtures.bertBGE()
        let json = try WordPieceFixtures.miniLM()
        #expect(gguf.vocabularySize == json.vocabularySize)
        for entry in try WordPieceFixtures.huggingFaceCases() {
            #expect(gguf.encode(entry.text, addSpecial: true, parseSpecial: true) == entry.ids, "\(entry.text.debugDescription)")
        }
    }

    @Test func specialTokenRoles() throws {
        for tokenizer in [try WordPieceFixtures.miniLM(), try WordPieceFixtures.bertBGE()] {
            #expect(tokenizer.kind == .wordPiece)
            #expect(tokenizer.vocabularySize == 30522)
            #expect(tokenizer.bosToken == 101 && tokenizer.eosToken == 102)
            #expect(tokenizer.paddingToken == 0 && tokenizer.unknownToken == 100)
            #expect(tokenizer.addsBOS && tokenizer.addsEOS)
            #expect(tokenizer.encode("", addSpecial: true) == [101, 102])
            #expect(tokenizer.encode("", addSpecial: false) == [])
            #expect(tokenizer.summary.hasPrefix("WordPiece, 30522 tokens, BOS [CLS] (added)"))
        }
    }

    /// Literal `[CLS]` in text: Hugging Face always splits its added tokens off; llama.cpp only
    /// when asked to parse specials.
    @Test func literalSpecialTokens() throws {
        let json = try WordPieceFixtures.miniLM()
        #expect(json.encode("[SEP]x", addSpecial: false, parseSpecial: false) == [102, 1060])
        let gguf = try WordPieceFixtures.bertBGE()
        #expect(gguf.encode("[SEP]x", addSpecial: false, parseSpecial: true) == [102, 1060])
        // Unparsed, the brackets are punctuation: "[", "sep", "]", "x".
        #expect(gguf.encode("[SEP]x", addSpecial: false, parseSpecial: false) == [1031, 19802, 1033, 1060])
    }

    @Test func decodingJoinsContinuations() throws {
        for tokenizer in [try WordPieceFixtures.miniLM(), try WordPieceFixtures.bertBGE()] {
            let ids = tokenizer.encode("Unaffordable Ångström, isn't it?")
            #expect(tokenizer.decode(ids, renderSpecial: false) == "unaffordable angstrom , isn ' t it ?")
            #expect(tokenizer.decode(ids, renderSpecial: false, cleanUpSpaces: true) == "unaffordable angstrom, isn't it?")
            #expect(tokenizer.decode(ids).hasPrefix("[CLS] unaffordable"))
            #expect(tokenizer.decode(ids).hasSuffix("? [SEP]"))
        }
    }
}
