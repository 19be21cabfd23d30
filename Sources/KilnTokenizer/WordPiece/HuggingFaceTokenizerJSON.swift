import Foundation
import KilnJSON

/// How a WordPiece vocabulary normalises text and marks its pieces.
///
/// Read from a Hugging Face `tokenizer.json` (the `BertNormalizer` and the `WordPiece` model), or,
/// for a llama.cpp GGUF (`tokenizer.ggml.model = "bert"`), from its normaliser keys with
/// llama.cpp's defaults.
public struct WordPieceSettings: Sendable, Equatable {
    /// The prefix of continuation tokens (`##`); nil for llama.cpp's converted vocabularies,
    /// whose word-initial tokens carry the `▁` phantom space instead.
    public var continuingSubwordPrefix: String?
    /// Words of more characters than this become the unknown token (Hugging Face: 100).
    public var maxInputCharactersPerWord = 100
    public var cleanText = true
    public var handleChineseCharacters = true
    public var stripAccents = true
    public var lowercase = true
    /// The decoder's `cleanup`: `decode(_:cleanUpSpaces: true)` removes spaces before punctuation.
    public var cleansUpSpaces = true

    public init(continuingSubwordPrefix: String? = "##") {
        self.continuingSubwordPrefix = continuingSubwordPrefix
    }

    var normalizer: BertNormalizer {
        BertNormalizer(
            cleanText: cleanText, handleChineseCharacters: handleChineseCharacters, stripAccents: stripAccents,
            lowercase: lowercase)
    }
}

extension TokenizerVocabulary {
    /// A `tokenizer.json` is a few megabytes at most; anything much bigger is not one.
    static let maxJSONBytes = 64 << 20

    /// Reads a Hugging Face `tokenizer.json` holding a WordPiece model (BERT and its kin:
    /// all-MiniLM, bge, e5).
    ///
    /// Supported: `model.type` `WordPiece`; `normalizer` `BertNormalizer` or null;
    /// `pre_tokenizer` `BertPreTokenizer`; `post_processor` `TemplateProcessing` (one special
    /// token at most on each side of `$A`), `BertProcessing` or null. The template's first token
    /// becomes BOS and its last EOS (`[CLS]` and `[SEP]`). `added_tokens` become special tokens
    /// that are recognised in text whatever `parseSpecial` says, as Hugging Face does; `special`
    /// ones are control tokens, the others user-defined. They are matched in the raw text (an
    /// added token with `normalized: true`, which BERT files do not have, would be matched after
    /// normalising by Hugging Face); `single_word` is not honoured. Anything else throws
    /// `TokenizerError.unsupportedTokenizerJSON` naming the part and its type.
    public init(huggingFaceJSON bytes: [UInt8]) throws(TokenizerError) {
        let root: JSONValue
        do {
            root = try JSONParser().parse(bytes)
        } catch {
            throw .invalidMetadata("tokenizer.json: \(error)")
        }
        guard case .object = root, let model = root["model"], case .object = model else {
            throw .invalidMetadata("tokenizer.json: no model object")
        }
        let modelType = Self.string(model["type"]) ?? ""
        guard modelType == "WordPiece" else { throw .unsupportedTokenizerJSON(part: "model", type: modelType) }
        guard case .object(let vocab)? = model["vocab"] else { throw .missingMetadata(key: "tokenizer.json model.vocab") }

        // Tokens by id, from the model's vocabulary and the added tokens (which may extend it).
        var idForText: [String: Int] = [:]
        var largest = -1
        for (text, value) in vocab {
            guard case .int(let id) = value, id >= 0, id < 1 << 24 else {
                throw .invalidMetadata("tokenizer.json: the id of \(text.debugDescription) is not a token id")
            }
            idForText[text] = id
            largest = max(largest, id)
        }
        var added: [(id: Int, text: String, special: Bool, strips: (Bool, Bool))] = []
        if case .array(let entries)? = root["added_tokens"] {
            for entry in entries {
                guard case .int(let id)? = entry["id"], id >= 0, id < 1 << 24, let text = Self.string(entry["content"]) else {
                    throw .invalidMetadata("tokenizer.json: an added token lacks an id or content")
                }
                let special = entry["special"] == .bool(true)
                added.append((id, text, special, (entry["lstrip"] == .bool(true), entry["rstrip"] == .bool(true))))
                largest = max(largest, id)
            }
        }
        var tokens = [String](repeating: "", count: largest + 1)
        for (text, id) in idForText { tokens[id] = text }
        var types = [Int](repeating: 1, count: tokens.count)
        for token in added {
            tokens[token.id] = token.text
            types[token.id] = token.special ? 3 : 4
            idForText[token.text] = token.id
        }
        self.init(model: "bert", tokens: tokens, tokenTypes: types)
        alwaysParsesSpecialTokens = true
        strippingTokens = added.filter { $0.strips.0 || $0.strips.1 }.map { ($0.id, $0.strips.0, $0.strips.1) }

        var settings = WordPieceSettings(continuingSubwordPrefix: Self.string(model["continuing_subword_prefix"]) ?? "##")
        if case .int(let limit)? = model["max_input_chars_per_word"] { settings.maxInputCharactersPerWord = max(0, limit) }
        if let unknown = Self.string(model["unk_token"]) {
            guard let id = idForText[unknown] else { throw .invalidMetadata("tokenizer.json: unk_token \(unknown) is not a token") }
            unknownTokenID = id
        }
        try Self.readNormalizer(root["normalizer"], into: &settings)
        let preTokenizer = root["pre_tokenizer"].flatMap { Self.string($0["type"]) } ?? "null"
        guard preTokenizer == "BertPreTokenizer" else { throw .unsupportedTokenizerJSON(part: "pre_tokenizer", type: preTokenizer) }
        if let decoder = root["decoder"], case .object = decoder {
            settings.cleansUpSpaces = decoder["cleanup"] != .bool(false)
        }
        wordPiece = settings

        let (first, last) = try Self.readPostProcessor(root["post_processor"], idForText: idForText)
        bosTokenID = first
        eosTokenID = last
        addBOS = first != nil
        addEOS = last != nil
        if case .object? = root["padding"], let pad = root["padding"].flatMap({ Self.string($0["pad_token"]) }) {
            paddingTokenID = idForText[pad]
        } else {
            paddingTokenID = idForText["[PAD]"]
        }
        separatorTokenID = idForText["[SEP]"]
    }

    /// Reads `BertNormalizer`'s options; `strip_accents: null` follows `lowercase`, as in Hugging Face.
    private static func readNormalizer(_ value: JSONValue?, into settings: inout WordPieceSettings) throws(TokenizerError) {
        guard let value, !value.isNull else {
            settings.cleanText = false
            settings.handleChineseCharacters = false
            settings.stripAccents = false
            settings.lowercase = false
            return
        }
        let type = string(value["type"]) ?? ""
        guard type == "BertNormalizer" else { throw .unsupportedTokenizerJSON(part: "normalizer", type: type) }
        func flag(_ key: String, default fallback: Bool) -> Bool {
            if case .bool(let flag)? = value[key] { return flag }
            return fallback
        }
        settings.cleanText = flag("clean_text", default: true)
        settings.handleChineseCharacters = flag("handle_chinese_chars", default: true)
        settings.lowercase = flag("lowercase", default: true)
        settings.stripAccents = flag("strip_accents", default: settings.lowercase)
    }

    /// The special tokens the post-processor puts before and after a single sequence.
    private static func readPostProcessor(
        _ value: JSONValue?, idForText: [String: Int]
    ) throws(TokenizerError) -> (first: Int?, last: Int?) {
        guard let value, !value.isNull else { return (nil, nil) }
        let type = string(value["type"]) ?? ""
        switch type {
        case "BertProcessing":
            func pair(_ key: String) throws(TokenizerError) -> Int {
                guard case .array(let pair)? = value[key], pair.count == 2, case .int(let id) = pair[1], id >= 0 else {
                    throw .invalidMetadata("tokenizer.json: BertProcessing.\(key) is not a [text, id] pair")
                }
                return id
            }
            return (try pair("cls"), try pair("sep"))
        case "TemplateProcessing":
            guard case .array(let items)? = value["single"] else {
                throw .invalidMetadata("tokenizer.json: TemplateProcessing has no single template")
            }
            var before: [Int] = []
            var after: [Int] = []
            var sawSequence = false
            for item in items {
                if item["Sequence"] != nil {
                    guard !sawSequence else { throw .unsupportedTokenizerJSON(part: "post_processor", type: "template with two sequences") }
                    sawSequence = true
                } else if let special = item["SpecialToken"], let name = string(special["id"]) {
                    let ids = try specialIDs(name, value["special_tokens"], idForText: idForText)
                    if sawSequence { after += ids } else { before += ids }
                } else {
                    throw .invalidMetadata("tokenizer.json: unreadable TemplateProcessing item")
                }
            }
            guard sawSequence, before.count <= 1, after.count <= 1 else {
                throw .unsupportedTokenizerJSON(
                    part: "post_processor", type: "TemplateProcessing with \(before.count) + \(after.count) special tokens")
            }
            return (before.first, after.first)
        default:
            throw .unsupportedTokenizerJSON(part: "post_processor", type: type)
        }
    }

    /// The ids of a template's special token: from `special_tokens`, else by its text.
    private static func specialIDs(_ name: String, _ table: JSONValue?, idForText: [String: Int]) throws(TokenizerError) -> [Int] {
        if case .array(let list)? = table?[name]?["ids"] {
            var ids: [Int] = []
            for entry in list {
                guard case .int(let id) = entry, id >= 0 else { throw .invalidMetadata("tokenizer.json: special token \(name) has a bad id") }
                ids.append(id)
            }
            return ids
        }
        guard let id = idForText[name] else { throw .invalidMetadata("tokenizer.json: special token \(name) is not a token") }
        return [id]
    }

    private static func string(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { return text }
        return nil
    }

    /// Reads the file at `path`, refusing anything larger than a tokenizer file can be.
    static func readFile(_ path: String) throws(TokenizerError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .missingFile(path) }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: maxJSONBytes + 1)
        guard data.count <= maxJSONBytes else { throw .invalidMetadata("\(path) is larger than \(maxJSONBytes) bytes") }
        return [UInt8](data)
    }
}
