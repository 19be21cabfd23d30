import KilnJSON

/// A validated `POST /v1/embeddings` body (OpenAI's shape).
///
/// `input` is a string, an array of strings, an array of token ids (one input) or an array of
/// such arrays. Token ids are the tokens of the text: the model's special tokens ([CLS] … [SEP]
/// for BERT) are added around them as around text. The empty string is a valid input.
struct EmbeddingRequest {
    enum Input: Equatable {
        case text(String)
        case tokens([Int32])
    }

    enum EncodingFormat: String {
        case float, base64
    }

    var model: String?
    var inputs: [Input]
    var encodingFormat = EncodingFormat.float
    var dimensions: Int?
    /// Kiln's extension (the name Hugging Face's text-embeddings-inference uses): cut inputs
    /// longer than the model takes instead of answering 400.
    var truncate = false

    /// Parses `body`, allowing at most `maxInputs` inputs (the token limits are checked once the
    /// inputs are tokenized).
    init(body: JSONValue, maxInputs: Int) throws {
        let fields = try RequestFields(body)
        model = try fields.string("model")
        guard let input = fields.value("input") else { throw APIError.invalid("'input' is required", param: "input") }
        inputs = try Self.inputs(input)
        guard !inputs.isEmpty else { throw APIError.invalid("'input' must not be an empty array", param: "input") }
        guard inputs.count <= maxInputs else {
            throw APIError.invalid("'input' holds \(inputs.count) inputs; at most \(maxInputs) are allowed", param: "input")
        }
        if let format = try fields.string("encoding_format") {
            guard let parsed = EncodingFormat(rawValue: format) else {
                throw APIError.invalid("'encoding_format' must be 'float' or 'base64', not '\(format)'", param: "encoding_format")
            }
            encodingFormat = parsed
        }
        dimensions = try fields.int("dimensions", in: 1...1_000_000)
        truncate = try fields.bool("truncate") ?? false
        _ = try fields.string("user")
        try fields.rejectUnread()
    }

    private static func inputs(_ value: JSONValue) throws -> [Input] {
        switch value {
        case .string(let text):
            return [.text(text)]
        case .array(let items) where items.isEmpty:
            return []
        case .array(let items):
            if case .int = items[0] { return [.tokens(try tokenList(value, at: "input"))] }
            return try items.enumerated().map { index, item in
                switch item {
                case .string(let text): return .text(text)
                case .array: return .tokens(try tokenList(item, at: "input[\(index)]"))
                default:
                    throw APIError.invalid(
                        "'input[\(index)]' must be a string or an array of token ids, not \(item.typeName)", param: "input")
                }
            }
        default:
            throw APIError.invalid(
                "'input' must be a string, an array of strings, or an array of token ids, not \(value.typeName)", param: "input")
        }
    }

    private static func tokenList(_ value: JSONValue, at path: String) throws -> [Int32] {
        guard case .array(let items) = value else { throw APIError.invalid("'\(path)' must be an array of token ids", param: "input") }
        return try items.enumerated().map { index, item in
            guard case .int(let id) = item, id >= 0, id <= Int(Int32.max) else {
                throw APIError.invalid("'\(path)[\(index)]' must be a non-negative integer token id", param: "input")
            }
            return Int32(id)
        }
    }
}
