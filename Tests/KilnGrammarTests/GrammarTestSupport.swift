import Foundation
import KilnGrammar
import KilnJSON
import KilnTokenizer

/// Fixtures and vocabularies the grammar tests share.
enum GrammarTestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A fixture file of `Tests/Fixtures/grammar/` (written by Scripts/fixtures/grammar-fixtures.py).
    static func fixture(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("grammar/\(name)"))
        return try JSONParser(maxDepth: 256).parse([UInt8](data))
    }

    /// A fixture string: text, or `{"hex": …}` for bytes that are not UTF-8.
    static func bytes(_ value: JSONValue) -> [UInt8] {
        switch value {
        case .string(let text): return Array(text.utf8)
        case .object:
            guard case .string(let hex)? = value["hex"] else { return [] }
            var out: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                out.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return out
        default: return []
        }
    }

    struct LoadedVocabulary: Sendable {
        let tokenizer: Tokenizer
        let vocabulary: TokenVocabulary
    }

    /// Qwen2's 151k-token vocabulary (llama.cpp's `ggml-vocab-qwen2.gguf`, in Tests/Fixtures/vocab),
    /// with token bytes as byte-level BPE decodes them; built once per test process.
    static let qwen2: LoadedVocabulary = {
        let tokenizer = try! Tokenizer(modelAt: fixtures.appendingPathComponent("vocab/ggml-vocab-qwen2.gguf").path)
        return LoadedVocabulary(tokenizer: tokenizer, vocabulary: vocabulary(of: tokenizer))
    }()

    static func vocabulary(of tokenizer: Tokenizer) -> TokenVocabulary {
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(tokenizer.vocabularySize)
        for id in 0..<tokenizer.vocabularySize { tokens.append(tokenizer.pieceBytes(Int32(id), renderSpecial: false)) }
        var ends = tokenizer.endOfGenerationTokens
        if let eos = tokenizer.eosToken { ends.insert(eos) }
        return TokenVocabulary(tokens: tokens, endOfSequence: ends)
    }

    /// Whether the matcher accepts `bytes` one at a time and may end after them.
    static func matches(_ grammar: Grammar, _ bytes: [UInt8]) -> Bool {
        let matcher = GrammarMatcher(grammar: grammar)
        for byte in bytes where !matcher.accept(bytes: [byte]) { return false }
        return matcher.canTerminate
    }

    static func isSet(_ mask: [UInt64], _ token: Int32) -> Bool { (mask[Int(token) >> 6] >> UInt64(token & 63)) & 1 != 0 }
}
