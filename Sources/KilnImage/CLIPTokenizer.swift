import Foundation
import KilnJSON

/// CLIP's byte-level BPE tokenizer, as Hugging Face's `CLIPTokenizer` (tokenizers backend) runs it:
/// the special tokens are matched first in the raw text; the rest is NFC-normalized, runs of
/// whitespace become one space, and it is lowercased; words are split by CLIP's pattern (the
/// contractions 's 't 're 've 'm 'll 'd, runs of letters, single digits, runs of other non-space
/// characters); each word's UTF-8 bytes are mapped to GPT-2's printable byte alphabet, `</w>` marks
/// its last symbol, and merges apply in rank order. Encoding gives `<|startoftext|>`, at most
/// `maxLength − 2` tokens, `<|endoftext|>`, then the pad token up to `maxLength`.
public final class CLIPTokenizer: @unchecked Sendable {
    public let maxLength: Int
    public let startId: Int
    public let endId: Int
    public let padId: Int
    private let vocabulary: [String: Int]
    private let ranks: [String: Int]
    private let byteSymbols: [String]
    private var cache: [String: [Int]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 10_000

    /// Loads `directory/vocab.json` + `merges.txt`, or else `directory/tokenizer.json`, and the pad
    /// token and length from `tokenizer_config.json` when present.
    public init(directory: String, maxLength: Int = 77) throws {
        let fileManager = FileManager.default
        var vocabulary: [String: Int] = [:]
        var merges: [(String, String)] = []
        if fileManager.fileExists(atPath: directory + "/vocab.json") && fileManager.fileExists(atPath: directory + "/merges.txt") {
            let vocabConfig = try ComponentConfig(path: directory + "/vocab.json")
            vocabulary = try Self.vocabulary(from: vocabConfig.root, path: vocabConfig.path)
            guard let text = fileManager.contents(atPath: directory + "/merges.txt").flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw ImageError.missingFile(directory + "/merges.txt")
            }
            for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#version") {
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { throw ImageError.invalidConfig("merges.txt: malformed line \"\(line)\"") }
                merges.append((String(parts[0]), String(parts[1])))
            }
        } else if fileManager.fileExists(atPath: directory + "/tokenizer.json") {
            let config = try ComponentConfig(path: directory + "/tokenizer.json")
            guard let model = config.root["model"], let vocab = model["vocab"], case .array(let mergeList)? = model["merges"] else {
                throw ImageError.invalidConfig("\(config.path): no BPE model with vocab and merges")
            }
            vocabulary = try Self.vocabulary(from: vocab, path: config.path)
            for entry in mergeList {
                switch entry {
                case .string(let line):
                    let parts = line.split(separator: " ")
                    guard parts.count == 2 else { throw ImageError.invalidConfig("\(config.path): malformed merge \"\(line)\"") }
                    merges.append((String(parts[0]), String(parts[1])))
                case .array(let pair) where pair.count == 2:
                    guard case .string(let left) = pair[0], case .string(let right) = pair[1] else { fallthrough }
                    merges.append((left, right))
                default:
                    throw ImageError.invalidConfig("\(config.path): malformed merge entry")
                }
            }
        } else {
            throw ImageError.missingFile("\(directory)/vocab.json and merges.txt, or tokenizer.json")
        }
        var padToken = "<|endoftext|>"
        var configuredLength = maxLength
        if fileManager.fileExists(atPath: directory + "/tokenizer_config.json") {
            let config = try ComponentConfig(path: directory + "/tokenizer_config.json")
            switch config.root["pad_token"] {
            case .string(let token)?: padToken = token
            case .object?: if case .string(let token)? = config.root["pad_token"]?["content"] { padToken = token }
            default: break
            }
            if case .int(let length)? = config.root["model_max_length"], length >= 2 { configuredLength = min(length, maxLength) }
        }
        guard let start = vocabulary["<|startoftext|>"], let end = vocabulary["<|endoftext|>"] else {
            throw ImageError.invalidConfig("\(directory): the vocabulary lacks <|startoftext|> or <|endoftext|>")
        }
        guard let pad = vocabulary[padToken] else { throw ImageError.invalidConfig("\(directory): pad token \(padToken) is not in the vocabulary") }
        self.vocabulary = vocabulary
        self.ranks = Dictionary(merges.enumerated().map { ($1.0 + " " + $1.1, $0) }, uniquingKeysWith: { first, _ in first })
        self.byteSymbols = Self.byteAlphabet()
        self.startId = start
        self.endId = end
        self.padId = pad
        self.maxLength = configuredLength
        for symbol in byteSymbols where vocabulary[symbol] == nil || vocabulary[symbol + "</w>"] == nil {
            throw ImageError.invalidConfig("\(directory): the vocabulary lacks the byte symbol \(symbol)")
        }
    }

    /// `maxLength` ids: start, the prompt's tokens (truncated), end, padding.
    public func encode(_ text: String) -> [Int] {
        var ids = [startId]
        ids += tokens(text, limit: maxLength - 2)
        ids.append(endId)
        while ids.count < maxLength { ids.append(padId) }
        return ids
    }

    /// The prompt's tokens without start, end or padding; at most `limit` of them (the rest of the
    /// text is not even looked at, so a long prompt costs only what the encoder will use).
    public func tokens(_ text: String, limit: Int = .max) -> [Int] {
        var result: [Int] = []
        var rest = Substring(text)
        // Special tokens are recognised in the raw text, before any normalization.
        while !rest.isEmpty && result.count < limit {
            let start = rest.range(of: "<|startoftext|>"), end = rest.range(of: "<|endoftext|>")
            let next = [start, end].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
            guard let special = next else {
                result += plainTokens(String(rest), limit: limit - result.count)
                break
            }
            result += plainTokens(String(rest[..<special.lowerBound]), limit: limit - result.count)
            result.append(rest[special] == "<|startoftext|>" ? startId : endId)
            rest = rest[special.upperBound...]
        }
        return Array(result.prefix(limit))
    }

    /// Longest word, in Unicode scalars, that BPE takes whole. BPE is quadratic in a word's length;
    /// a longer word (no real prompt has one; a hostile one can) is encoded in pieces of this size.
    static let maximumWordScalars = 64

    private func plainTokens(_ text: String, limit: Int) -> [Int] {
        guard !text.isEmpty else { return [] }
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
        var result: [Int] = []
        for word in Self.words(normalized.lowercased()) {
            guard result.count < limit else { break }
            let scalars = Array(word.unicodeScalars)
            guard scalars.count > Self.maximumWordScalars else {
                result += bpe(word)
                continue
            }
            for start in stride(from: 0, to: scalars.count, by: Self.maximumWordScalars) where result.count < limit {
                var piece = ""
                piece.unicodeScalars.append(contentsOf: scalars[start..<min(start + Self.maximumWordScalars, scalars.count)])
                result += bpe(piece)
            }
        }
        return result
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
                for contraction in contractions where index + contraction.count < scalars.count
                    && scalars[(index + 1)...(index + contraction.count)].elementsEqual(contraction) {
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
                while end < scalars.count && !isLetter(scalars[end]) && !isNumber(scalars[end]) && !scalars[end].properties.isWhitespace {
                    end += 1
                }
                take(end - index)
            }
        }
        return words
    }

    private func bpe(_ word: String) -> [Int] {
        cacheLock.lock()
        if let cached = cache[word] { cacheLock.unlock(); return cached }
        cacheLock.unlock()
        var symbols = word.utf8.map { byteSymbols[Int($0)] }
        guard !symbols.isEmpty else { return [] }
        symbols[symbols.count - 1] += "</w>"
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)? = nil
            for index in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[index] + " " + symbols[index + 1]], rank < (best?.rank ?? Int.max) {
                    best = (rank, index)
                }
            }
            guard let best else { break }
            let left = symbols[best.index], right = symbols[best.index + 1]
            var merged: [String] = []
            var index = 0
            while index < symbols.count {
                if index < symbols.count - 1 && symbols[index] == left && symbols[index + 1] == right {
                    merged.append(left + right)
                    index += 2
                } else {
                    merged.append(symbols[index])
                    index += 1
                }
            }
            symbols = merged
        }
        // Every byte symbol (with and without </w>) is in the vocabulary (checked at load), and merges
        // only produce vocabulary entries in a well-formed file; a stray one falls back to its bytes.
        var ids: [Int] = []
        for symbol in symbols {
            if let id = vocabulary[symbol] { ids.append(id) } else { ids += fallback(symbol) }
        }
        cacheLock.lock()
        if cache.count < Self.cacheLimit { cache[word] = ids }
        cacheLock.unlock()
        return ids
    }

    private func fallback(_ symbol: String) -> [Int] {
        let marked = symbol.hasSuffix("</w>")
        let core = marked ? String(symbol.dropLast(4)) : symbol
        let characters = core.map(String.init)
        return characters.enumerated().compactMap { index, character in
            vocabulary[marked && index == characters.count - 1 ? character + "</w>" : character]
        }
    }

    private static func vocabulary(from value: JSONValue, path: String) throws -> [String: Int] {
        guard case .object(let members) = value else { throw ImageError.invalidConfig("\(path): vocabulary must be an object") }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(members.count)
        for (token, id) in members {
            guard case .int(let number) = id, number >= 0 else { throw ImageError.invalidConfig("\(path): id of \(token) must be a non-negative integer") }
            vocabulary[token] = number
        }
        return vocabulary
    }

    /// GPT-2's reversible map from bytes to printable characters.
    static func byteAlphabet() -> [String] {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var symbols = [Int](repeating: 0, count: 256)
        for byte in printable { symbols[byte] = byte }
        var next = 256
        for byte in 0..<256 where !printable.contains(byte) {
            symbols[byte] = next
            next += 1
            printable.append(byte)
        }
        return symbols.map { String(Character(Unicode.Scalar(UInt32($0))!)) }
    }
}
