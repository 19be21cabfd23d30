import Foundation
import KilnJSON

/// CLIP's tokenizer, as Hugging Face's `CLIPTokenizer` (tokenizers backend) runs it: the special
/// tokens are matched first in the raw text; the rest is NFC-normalized, runs of whitespace become
/// one space, and it is lowercased; words are split by CLIP's pattern (the contractions 's 't 're
/// 've 'm 'll 'd, runs of letters, single digits, runs of other non-space characters); each word's
/// bytes then go through the shared byte-level BPE (`ByteLevelBPEEncoder`) with `</w>` marking its
/// last symbol. Encoding gives `<|startoftext|>`, at most `maxLength − 2` tokens, `<|endoftext|>`,
/// then the pad token up to `maxLength`.
///
/// Immutable after init, so threads may share one.
public final class CLIPTokenizer: Sendable {
    public let maxLength: Int
    public let startId: Int
    public let endId: Int
    public let padId: Int
    private let encoder: ByteLevelBPEEncoder

    /// Vocabulary files are a few megabytes; anything much bigger is not one.
    static let maxFileBytes = 64 << 20

    /// Loads `directory/vocab.json` + `merges.txt`, or else `directory/tokenizer.json`, and the pad
    /// token and length from `tokenizer_config.json` when present.
    public init(directory: String, maxLength: Int = 77) throws {
        let fileManager = FileManager.default
        var vocabulary: [String: Int] = [:]
        var merges: [String] = []
        if fileManager.fileExists(atPath: directory + "/vocab.json") && fileManager.fileExists(atPath: directory + "/merges.txt") {
            let vocabPath = directory + "/vocab.json"
            vocabulary = try Self.vocabulary(from: Self.readJSON(vocabPath), path: vocabPath)
            let text = String(decoding: try Self.read(directory + "/merges.txt"), as: UTF8.self)
            for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#version") {
                guard line.split(separator: " ").count == 2 else {
                    throw TokenizerError.invalidMetadata("merges.txt: malformed line \"\(line)\"")
                }
                merges.append(String(line))
            }
        } else if fileManager.fileExists(atPath: directory + "/tokenizer.json") {
            let path = directory + "/tokenizer.json"
            let root = try Self.readJSON(path)
            guard let model = root["model"], let vocab = model["vocab"], case .array(let mergeList)? = model["merges"] else {
                throw TokenizerError.invalidMetadata("\(path): no BPE model with vocab and merges")
            }
            vocabulary = try Self.vocabulary(from: vocab, path: path)
            for entry in mergeList {
                switch entry {
                case .string(let line) where line.split(separator: " ").count == 2:
                    merges.append(line)
                case .array(let pair) where pair.count == 2:
                    guard case .string(let left) = pair[0], case .string(let right) = pair[1] else { fallthrough }
                    merges.append(left + " " + right)
                default:
                    throw TokenizerError.invalidMetadata("\(path): malformed merge entry")
                }
            }
        } else {
            throw TokenizerError.missingFile("\(directory)/vocab.json and merges.txt, or tokenizer.json")
        }
        var padToken = "<|endoftext|>"
        var configuredLength = maxLength
        if fileManager.fileExists(atPath: directory + "/tokenizer_config.json") {
            let config = try Self.readJSON(directory + "/tokenizer_config.json")
            switch config["pad_token"] {
            case .string(let token)?: padToken = token
            case .object?: if case .string(let token)? = config["pad_token"]?["content"] { padToken = token }
            default: break
            }
            if case .int(let length)? = config["model_max_length"], length >= 2 { configuredLength = min(length, maxLength) }
        }
        guard let start = vocabulary["<|startoftext|>"], let end = vocabulary["<|endoftext|>"] else {
            throw TokenizerError.invalidMetadata("\(directory): the vocabulary lacks <|startoftext|> or <|endoftext|>")
        }
        guard let pad = vocabulary[padToken] else {
            throw TokenizerError.invalidMetadata("\(directory): pad token \(padToken) is not in the vocabulary")
        }
        for scalar in ByteLevelAlphabet.scalarForByte {
            let symbol = String(Character(Unicode.Scalar(scalar)!))
            guard vocabulary[symbol] != nil, vocabulary[symbol + "</w>"] != nil else {
                throw TokenizerError.invalidMetadata("\(directory): the vocabulary lacks the byte symbol \(symbol)")
            }
        }
        // The encoder takes the vocabulary by id; an unused id gets a placeholder outside the
        // byte-level alphabet, which no merge can produce.
        let size = (vocabulary.values.max() ?? -1) + 1
        guard size <= 1 << 24 else { throw TokenizerError.invalidMetadata("\(directory): token ids reach \(size)") }
        var tokens = [String](repeating: "\u{FFFF}", count: size)
        for (token, id) in vocabulary { tokens[id] = token }
        encoder = ByteLevelBPEEncoder(
            tokens: tokens, merges: merges, preTokenizer: .gpt2, ignoresMerges: false,
            endOfWordSuffix: "</w>", limits: TokenizerLimits())
        self.startId = start
        self.endId = end
        self.padId = pad
        self.maxLength = configuredLength
    }

    /// `maxLength` ids: start, the prompt's tokens (truncated), end, padding.
    public func encode(_ text: String) -> [Int] {
        var ids = [startId]
        ids += tokens(text, limit: maxLength - 2)
        ids.append(endId)
        while ids.count < maxLength { ids.append(padId) }
        return ids
    }

    /// The prompt's tokens without start, end or padding; at most `limit` of them (encoding stops
    /// at the word that reaches the limit, so a long prompt costs only what the encoder will use).
    public func tokens(_ text: String, limit: Int = .max) -> [Int] {
        var result: [Int] = []
        var scratch = ByteLevelBPEEncoder.Scratch()
        var rest = Substring(text)
        // Special tokens are recognised in the raw text, before any normalization.
        while !rest.isEmpty && result.count < limit {
            let start = rest.range(of: "<|startoftext|>"), end = rest.range(of: "<|endoftext|>")
            let next = [start, end].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
            guard let special = next else {
                appendPlainTokens(String(rest), limit: limit, to: &result, scratch: &scratch)
                break
            }
            appendPlainTokens(String(rest[..<special.lowerBound]), limit: limit, to: &result, scratch: &scratch)
            result.append(rest[special] == "<|startoftext|>" ? startId : endId)
            rest = rest[special.upperBound...]
        }
        return Array(result.prefix(limit))
    }

    private func appendPlainTokens(
        _ text: String, limit: Int, to result: inout [Int],
        scratch: inout ByteLevelBPEEncoder.Scratch
    ) {
        guard !text.isEmpty else { return }
        var normalized = ""
        var inSpace = false
        for scalar in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inSpace { normalized.unicodeScalars.append(" ") }
                inSpace = true
            } else {
                normalized.unicodeScalars.append(scalar)
                inSpace = false
            }
        }
        var word: [UInt8] = []
        var ids: [Int32] = []
        for text in Self.words(normalized.lowercased()) {
            guard result.count < limit else { break }
            word.removeAll(keepingCapacity: true)
            word.append(contentsOf: text.utf8)
            word.append(ByteLevelBPEEncoder.endOfWordMarker)
            ids.removeAll(keepingCapacity: true)
            word.withUnsafeBufferPointer { encoder.encode(markedWord: $0, into: &ids, scratch: &scratch) }
            result += ids.lazy.map { Int($0) }
        }
    }

    /// CLIP's word pattern over lowercased text (see the type's documentation).
    static func words(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var words: [String] = []
        var index = 0
        func isLetter(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return false
            }
        }
        func isNumber(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func take(_ count: Int) {
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[index..<index + count])
            words.append(String(word))
            index += count
        }
        let contractions = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }
        outer: while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "'" {
                for contraction in contractions
                where index + contraction.count < scalars.count
                    && scalars[(index + 1)...(index + contraction.count)].elementsEqual(contraction)
                {
                    take(contraction.count + 1)
                    continue outer
                }
            }
            if isLetter(scalar) {
                var end = index
                while end < scalars.count && isLetter(scalars[end]) { end += 1 }
                take(end - index)
            } else if isNumber(scalar) {
                take(1)
            } else if scalar.properties.isWhitespace {
                index += 1
            } else {
                var end = index
                while end < scalars.count && !isLetter(scalars[end]) && !isNumber(scalars[end])
                    && !scalars[end].properties.isWhitespace
                {
                    end += 1
                }
                take(end - index)
            }
        }
        return words
    }

    private static func read(_ path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TokenizerError.missingFile(path) }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: maxFileBytes + 1)
        guard data.count <= maxFileBytes else {
            throw TokenizerError.invalidMetadata("\(path) is larger than \(maxFileBytes) bytes")
        }
        return [UInt8](data)
    }

    private static func readJSON(_ path: String) throws -> JSONValue {
        do {
            return try JSONParser().parse(read(path))
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.invalidMetadata("\(path): \(error)")
        }
    }

    private static func vocabulary(from value: JSONValue, path: String) throws -> [String: Int] {
        guard case .object(let members) = value else {
            throw TokenizerError.invalidMetadata("\(path): vocabulary must be an object")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(members.count)
        for (token, id) in members {
            guard case .int(let number) = id, number >= 0 else {
                throw TokenizerError.invalidMetadata("\(path): id of \(token) must be a non-negative integer")
            }
            vocabulary[token] = number
        }
        return vocabulary
    }
}
