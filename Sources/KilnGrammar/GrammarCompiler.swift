import KilnJSON

/// What a request constrains its output to.
public enum GrammarSource: Sendable, Hashable {
    /// llama.cpp GBNF text with its start rule.
    case gbnf(String, root: String = "root")
    /// A JSON Schema.
    case jsonSchema(JSONValue)
    /// Any JSON value (OpenAI's `json_object`, which asks for an object: see `jsonObject`).
    case anyJSONValue
    /// Any JSON object.
    case jsonObject
    /// GBNF text (starting at `root`) that refers to rules defined by JSON Schemas: literal text
    /// around JSON values, as a tool call is. The text's rules must not take the names of JSON's
    /// fixed rules (`space`, `string`, `value`, …); the schemas' other rules avoid the text's names.
    case gbnfWithSchemas(String, schemas: [SchemaRule])

    public static func == (lhs: GrammarSource, rhs: GrammarSource) -> Bool { lhs.cacheKey == rhs.cacheKey }
    public func hash(into hasher: inout Hasher) { hasher.combine(cacheKey) }

    /// The source's content as text: equal sources have equal keys.
    public var cacheKey: String {
        switch self {
        case let .gbnf(text, root): return "gbnf:\(root):\(text)"
        case .jsonSchema(let schema): return "schema:" + schema.serialized
        case .anyJSONValue: return "any-json"
        case .jsonObject: return "json-object"
        case let .gbnfWithSchemas(text, schemas):
            return "gbnf+schemas:" + schemas.map { "\($0.name)=\($0.schema.serialized)" }.joined(separator: "\n") + "\n" + text
        }
    }
}

/// A GBNF rule whose values are a JSON Schema's.
public struct SchemaRule: Sendable {
    public var name: String
    public var schema: JSONValue
    public init(name: String, schema: JSONValue) {
        self.name = name
        self.schema = schema
    }
}

/// Turns a `GrammarSource` into a compiled `Grammar`, within `limits`.
public struct GrammarCompiler: Sendable {
    public var limits: GrammarLimits
    /// Refuse schema keywords that are neither supported nor annotations (for OpenAI's `strict`).
    public var rejectUnknownKeywords: Bool

    public init(limits: GrammarLimits = GrammarLimits(), rejectUnknownKeywords: Bool = false) {
        self.limits = limits
        self.rejectUnknownKeywords = rejectUnknownKeywords
    }

    public func compile(_ source: GrammarSource) throws(GrammarError) -> Grammar {
        switch source {
        case let .gbnf(text, root): return try Grammar(gbnf: text, root: root, limits: limits)
        case .jsonSchema(let schema):
            let text = try gbnf(forSchema: schema)
            do {
                return try Grammar(gbnf: text, limits: limits)
            } catch .invalidGrammar(let message) {
                throw .invalidSchema(message: message.replacingOccurrences(of: "rule 'root'", with: "the schema"), pointer: "")
            }
        case .anyJSONValue: return try Grammar(gbnf: try gbnf(forSchema: .object([])), limits: limits)
        case .jsonObject: return try Grammar(gbnf: try gbnf(forSchema: .object([("type", .string("object"))])), limits: limits)
        case let .gbnfWithSchemas(text, schemas):
            let written = try GBNFParser.parse(text, limits: limits)
            // JSON's fixed rules keep their names in every schema's GBNF.
            if let taken = written.rules.first(where: { SchemaPrimitives.rules[$0.name] != nil }) {
                throw .invalidGrammar(message: "rule '\(taken.name)' has the name of a JSON Schema rule")
            }
            let schemaRules = try JSONSchemaCompiler.gbnf(
                forRules: schemas.map { ($0.name, $0.schema) }, reserving: Set(written.rules.map(\.name)), limits: limits,
                rejectUnknownKeywords: rejectUnknownKeywords)
            return try Grammar(gbnf: text + "\n" + schemaRules, limits: limits)
        }
    }

    /// The GBNF a schema compiles through (to read, debug or hand to another engine).
    public func gbnf(forSchema schema: JSONValue) throws(GrammarError) -> String {
        try JSONSchemaCompiler.gbnf(for: schema, limits: limits, rejectUnknownKeywords: rejectUnknownKeywords)
    }
}
