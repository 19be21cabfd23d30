import KilnJSON

/// One function a chat request offers the model (`tools[i]`, of type `function`).
public struct ToolFunction: Sendable, Equatable {
    public var name: String
    /// The JSON Schema of the arguments object (an empty object schema when the request gave none).
    public var parameters: JSONValue
    /// OpenAI's `strict`: schema keywords Kiln does not enforce are refused instead of ignored.
    public var strict: Bool
}

/// Whether and how the model must call a tool (`tool_choice`).
public enum ToolChoice: Sendable, Equatable {
    /// Answer in text; the tools are not shown to the model.
    case none
    /// Text or calls, as the model decides; once it starts a call, the call is constrained.
    case auto
    /// At least one call, and nothing else.
    case required
    /// One call of this function.
    case function(String)
}

/// The tool members of a chat request, validated: `tools`, `tool_choice`, `parallel_tool_calls`.
public struct ToolRequest: Sendable, Equatable {
    public var functions: [ToolFunction]
    public var choice: ToolChoice
    /// Whether one answer may hold several calls (OpenAI's default: yes).
    public var parallelCalls: Bool
    /// `tools` as the request gave it, for the chat template's `tools` variable.
    public var templateTools: JSONValue

    /// Most functions one request may offer; each is a rule of the call grammar.
    public static let maxFunctions = 128

    /// Reads the members; nil when the request offers no tools or chooses `none` (the answer is
    /// then plain text).
    static func read(_ fields: RequestFields) throws -> ToolRequest? {
        let parallelCalls = try fields.bool("parallel_tool_calls") ?? true
        let tools = try readTools(fields)
        let functions = tools.map(\.function)
        let choice = try readChoice(fields, functions: functions)
        guard !functions.isEmpty, choice != .none else { return nil }
        return ToolRequest(
            functions: functions, choice: choice, parallelCalls: parallelCalls, templateTools: .array(tools.map(\.templateEntry)))
    }

    /// Each function, and the tool as the template sees it: as the request wrote it, with the
    /// defaulted parameters.
    private static func readTools(_ fields: RequestFields) throws -> [(function: ToolFunction, templateEntry: JSONValue)] {
        guard let value = fields.value("tools") else { return [] }
        guard case .array(let items) = value else { throw fields.typeError("tools", "an array", value) }
        guard items.count <= maxFunctions else {
            throw APIError.invalid("'tools' may hold at most \(maxFunctions) functions, got \(items.count)", param: "tools")
        }
        var names: Set<String> = []
        return try items.enumerated().map { index, item in
            let param = "tools[\(index)]"
            let tool = try RequestFields(item, context: param)
            guard try tool.string("type") == "function" else {
                throw APIError.invalid("'\(param).type' must be 'function'", param: "\(param).type")
            }
            guard let definition = tool.value("function") else {
                throw APIError.invalid("'\(param).function' is required", param: "\(param).function")
            }
            try tool.rejectUnread()
            let function = try RequestFields(definition, context: "\(param).function")
            guard let name = try function.string("name"), isValidName(name) else {
                throw APIError.invalid(
                    "'\(param).function.name' is required: 1 to 64 of a-z, A-Z, 0-9, _ and -", param: "\(param).function.name")
            }
            guard names.insert(name).inserted else {
                throw APIError.invalid("'\(param).function.name' repeats the name '\(name)'", param: "\(param).function.name")
            }
            _ = try function.string("description")
            let strict = try function.bool("strict") ?? false
            let parameters = function.value("parameters") ?? .object([("type", "object"), ("properties", .object([]))])
            guard case .object = parameters, parameters["type"] == nil || parameters["type"] == "object" else {
                throw APIError.invalid(
                    "'\(param).function.parameters' must be a JSON Schema of an object", param: "\(param).function.parameters")
            }
            try function.rejectUnread()
            let described = function.members.filter { $0.0 != "parameters" && $0.0 != "strict" } + [("parameters", parameters)]
            return (
                ToolFunction(name: name, parameters: parameters, strict: strict),
                .object([("type", "function"), ("function", .object(described))])
            )
        }
    }

    private static func readChoice(_ fields: RequestFields, functions: [ToolFunction]) throws -> ToolChoice {
        guard let value = fields.value("tool_choice") else { return .auto }
        switch value {
        case "none": return .none
        case "auto": return .auto
        case "required":
            guard !functions.isEmpty else {
                throw APIError.invalid("'tool_choice' is 'required' but 'tools' offers no function", param: "tool_choice")
            }
            return .required
        case .object:
            let choice = try RequestFields(value, context: "tool_choice")
            guard try choice.string("type") == "function", let function = choice.value("function") else {
                throw APIError.invalid(
                    "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": …}}",
                    param: "tool_choice")
            }
            try choice.rejectUnread()
            let named = try RequestFields(function, context: "tool_choice.function")
            guard let name = try named.string("name") else {
                throw APIError.invalid("'tool_choice.function.name' is required", param: "tool_choice.function.name")
            }
            try named.rejectUnread()
            guard functions.contains(where: { $0.name == name }) else {
                let offered = functions.map(\.name).joined(separator: ", ")
                throw APIError.invalid(
                    "'tool_choice' names the function '\(name)', which 'tools' does not offer (offered: \(offered.isEmpty ? "none" : offered))",
                    param: "tool_choice.function.name")
            }
            return .function(name)
        default:
            throw APIError.invalid("'tool_choice' must be 'none', 'auto', 'required' or a named function", param: "tool_choice")
        }
    }

    /// OpenAI's rule for function names, which also keeps them free of JSON and GBNF escapes.
    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F || byte == 0x2D
            }
    }
}
