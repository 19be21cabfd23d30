import Foundation
import KilnTokenizer
import Testing

/// Seeded random texts tokenized by llama.cpp itself (Tests/Fixtures/vocab/random-cases.json,
/// made by make-random-cases.py beside it): every case and every sampled token rendering must
/// match exactly. These cover what the fixed cases do not: long words (the heap merge path),
/// special-token texts with and without parsing, BOS/EOS, control characters, and characters
/// newer than llama.cpp's Unicode tables.
@Suite("Tokenizer against llama.cpp on random texts")
struct TokenizerDifferentialTests {
    struct Case: Decodable {
        var text: String
        var addSpecial: Bool
        var parseSpecial: Bool
        var ids: [Int32]

        enum CodingKeys: String, CodingKey {
            case text, ids
            case addSpecial = "add_special"
            case parseSpecial = "parse_special"
        }
    }

    struct Vocabulary: Decodable {
        var cases: [Case]
        /// Token id to the hex of the bytes llama.cpp renders (token_to_piece, special).
        var pieces: [String: String]
    }

    struct Fixture: Decodable {
        var vocabularies: [String: Vocabulary]
    }

    static let names = TokenizerFixtures.vocabularies + ["smollm2"]

    /// Decoded with `JSONDecoder`: Foundation's `JSONSerialization` on Linux drops a byte-order
    /// mark that starts a string, and several cases start with one.
    static let fixture: Fixture? = {
        let url = TokenizerFixtures.directory.appendingPathComponent("vocab/random-cases.json")
        return try? JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    static func cases(_ name: String) -> [Case] { fixture?.vocabularies[name]?.cases ?? [] }

    static func pieces(_ name: String) -> [(id: Int32, bytes: [UInt8])] {
        (fixture?.vocabularies[name]?.pieces ?? [:]).map { key, hex in
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return (Int32(key)!, bytes)
        }.sorted { $0.id < $1.id }
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        name == "smollm2" ? try TokenizerFixtures.smolLM2() : try TokenizerFixtures.tokenizer(name)
    }

    @Test(arguments: names)
    func randomTexts(name: String) throws {
        let tokenizer = try Self.tokenizer(name)
        let cases = Self.cases(name)
        #expect(cases.count == 400, "random-cases.json must hold 400 cases for \(name)")
        var passed = 0
        for item in cases {
            let ids = tokenizer.encode(item.text, addSpecial: item.addSpecial, parseSpecial: item.parseSpecial)
            #expect(ids == item.ids, "\(name) add_special=\(item.addSpecial) parse_special=\(item.parseSpecial): \(item.text.debugDescription)")
            if ids == item.ids { passed += 1 }
        }
        print("tokenizer random texts \(name): \(passed)/\(cases.count) cases match llama.cpp")
    }

    @Test(arguments: names)
    func tokenRenderings(name: String) throws {
        let tokenizer = try Self.tokenizer(name)
        let pieces = Self.pieces(name)
        #expect(pieces.count >= 600)
        var passed = 0
        for (id, bytes) in pieces {
            let ours = tokenizer.pieceBytes(id, renderSpecial: true)
            #expect(ours == bytes, "\(name) token \(id) \(tokenizer.tokenText(id) ?? "?")")
            if ours == bytes { passed += 1 }
        }
        print("tokenizer renderings \(name): \(passed)/\(pieces.count) tokens match llama.cpp")
    }
}
