import KilnJSON

/// What a request constrains its output to, from OpenAI's `response_format` or llama.cpp's
/// `grammar` and `json_schema` members (one of them at most). Enforced while decoding: every token
/// the model samples keeps the output a prefix of the format, so the answer always parses.
public enum OutputFormat: Sendable, Equatable {
    /// `response_format: {"type": "json_object"}`: any JSON object.
    case jsonObject
    /// A JSON Schema (`response_format.json_schema.schema`, or llama.cpp's `json_schema`).
    /// `strict` refuses schema keywords Kiln does not enforce instead of ignoring them.
    case jsonSchema(JSONValue, strict: Bool, param: String)
    /// A llama.cpp GBNF grammar (its `grammar` member), starting at rule `root`.
    case grammar(String)

    /// The request member a problem with the format is blamed on.
    public var param: String {
        switch self {
        case .jsonObject: return "response_format"
        case .jsonSchema(_, _, let param): return param
        case .grammar: return "grammar"
        }
    }

    /// Whether the output is a JSON value (not a GBNF grammar's text).
    public var isJSON: Bool {
        if case .grammar = self { return false }
        return true
    }

    /// Reads `response_format`, `grammar` and `json_schema`; nil when none constrains the output.
    static func read(_ fields: RequestFields) throws -> OutputFormat? {
        var formats: [OutputFormat] = []
        if let value = fields.value("response_format"), let format = try responseFormat(value) { formats.append(format) }
        if let text = try fields.string("grammar") { formats.append(.grammar(text)) }
        if let schema = fields.value("json_schema") {
            guard case .object = schema else { throw fields.typeError("json_schema", "an object (a JSON Schema)", schema) }
            formats.append(.jsonSchema(schema, strict: false, param: "json_schema"))
        }
        guard formats.count <= 1 else {
            throw APIError.invalid(
                "Give at most one of 'response_format' (json_object or json_schema), 'grammar' and 'json_schema'",
                param: formats[1].param)
        }
        return formats.first
    }

    /// OpenAI's shapes, and llama.cpp's `{"type": "json_object", "schema": {…}}`.
    private static func responseFormat(_ value: JSONValue) throws -> OutputFormat? {
        let format = try RequestFields(value, context: "response_format")
        guard let type = try format.string("type") else {
            throw APIError.invalid("'response_format.type' is required", param: "response_format.type")
        }
        switch type {
        case "text":
            try format.rejectUnread()
            return nil
        case "json_object":
            let schema = format.value("schema")
            try format.rejectUnread()
            guard let schema else { return .jsonObject }
            guard case .object = schema else { throw format.typeError("schema", "an object (a JSON Schema)", schema) }
            return .jsonSchema(schema, strict: false, param: "response_format.schema")
        case "json_schema":
            guard let definition = format.value("json_schema") else {
                throw APIError.invalid("'response_format.json_schema' is required for type json_schema", param: "response_format.json_schema")
            }
            try format.rejectUnread()
            let fields = try RequestFields(definition, context: "response_format.json_schema")
            guard let name = try fields.string("name"), (1...64).contains(name.count),
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw APIError.invalid(
                    "'response_format.json_schema.name' is required: 1 to 64 of a-z, A-Z, 0-9, _ and -",
                    param: "response_format.json_schema.name")
            }
            _ = try fields.string("description")
            let strict = try fields.bool("strict") ?? false
            let schema = fields.value("schema")
            try fields.rejectUnread()
            guard let schema else { return .jsonObject }
            guard case .object = schema else { throw fields.typeError("schema", "an object (a JSON Schema)", schema) }
            return .jsonSchema(schema, strict: strict, param: "response_format.json_schema.schema")
        default:
            throw APIError.invalid(
                "'response_format.type' must be 'text', 'json_object' or 'json_schema', not '\(type)'", param: "response_format.type")
        }
    }
}
