import KilnJSON

/// `POST /v1/chat/completions`, validated.
public struct ChatCompletionRequest: Sendable {
    public var model: String
    /// The messages as the chat template receives them: objects with `role` and `content`
    /// (text parts flattened to one string), other members passed through.
    public var messages: [JSONValue]
    public var options: GenerationOptions
    /// The functions offered and how they may be called; nil when the answer is text only.
    public var tools: ToolRequest?

    public static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    public init(body: JSONValue, limits: GenerationOptions.Limits = .init()) throws {
        let fields = try RequestFields(body)
        guard let model = try fields.string("model") else {
            throw APIError.invalid("'model' is required", param: "model")
        }
        self.model = model
        guard let rawMessages = fields.value("messages") else {
            throw APIError.invalid("'messages' is required", param: "messages")
        }
        guard case .array(let items) = rawMessages else {
            throw fields.typeError("messages", "an array", rawMessages)
        }
        guard !items.isEmpty else { throw APIError.invalid("'messages' must not be empty", param: "messages") }
        messages = try items.enumerated().map { try Self.normalize(message: $1, index: $0) }
        options = try GenerationOptions(fields: fields, logprobsStyle: .chat, limits: limits)
        tools = try ToolRequest.read(fields)
        if tools != nil && options.ignoreEOS {
            throw APIError.invalid("'ignore_eos' cannot be combined with 'tools', whose calls end the answer", param: "ignore_eos")
        }
        if tools != nil, let format = options.outputFormat {
            throw APIError.invalid(
                "'\(format.param)' cannot be combined with 'tools': a tool call follows its function's parameters", param: format.param,
                code: "unsupported_parameter")
        }
        try Self.acceptUnimplementedDefaults(fields)
        try fields.rejectUnread()
    }

    /// Chat members Kiln takes in their default form only (see `RequestFieldPolicy`).
    private static func acceptUnimplementedDefaults(_ fields: RequestFields) throws {
        try RequestFieldPolicy.acceptDefaultOnly(
            "modalities", in: fields, reason: "Kiln's language models answer in text only"
        ) { $0 == .array(["text"]) }
    }

    private static func normalize(message: JSONValue, index: Int) throws -> JSONValue {
        let param = "messages[\(index)]"
        guard case .object(var members) = message else {
            throw APIError.invalid("'\(param)' must be an object", param: param)
        }
        guard case .string(let role)? = message["role"], roles.contains(role) else {
            throw APIError.invalid(
                "'\(param).role' must be one of \(roles.sorted().joined(separator: ", "))",
                param: "\(param).role")
        }
        if let calls = message["tool_calls"], !calls.isNull {
            guard role == "assistant" else {
                throw APIError.invalid("'\(param).tool_calls' is allowed on assistant messages only", param: "\(param).tool_calls")
            }
            members.removeAll { $0.0 == "tool_calls" }
            members.append(("tool_calls", try normalize(toolCalls: calls, param: "\(param).tool_calls")))
        }
        if role == "tool" {
            guard case .string? = message["tool_call_id"] else {
                throw APIError.invalid("'\(param).tool_call_id' is required on tool messages", param: "\(param).tool_call_id")
            }
        }
        switch message["content"] {
        case .string?:
            break
        case nil, .null?:
            // An assistant turn that only calls tools has no content.
            guard role == "assistant" else {
                throw APIError.invalid("'\(param).content' is required", param: "\(param).content")
            }
        case .array(let parts)?:
            var text: [String] = []
            for (partIndex, part) in parts.enumerated() {
                guard case .string("text")? = part["type"], case .string(let partText)? = part["text"] else {
                    throw APIError.invalid(
                        "'\(param).content[\(partIndex)]' must be a text part; other content types are not supported",
                        param: "\(param).content")
                }
                text.append(partText)
            }
            members.removeAll { $0.0 == "content" }
            members.append(("content", .string(text.joined(separator: "\n"))))
        case let other?:
            throw APIError.invalid(
                "'\(param).content' must be a string or an array of text parts, not \(other.typeName)",
                param: "\(param).content")
        }
        return .object(members)
    }
}

extension ChatCompletionRequest {
    /// An assistant message's earlier calls, checked, with each `arguments` JSON text parsed: chat
    /// templates write the arguments object themselves (`tool_call.arguments | tojson`).
    fileprivate static func normalize(toolCalls: JSONValue, param: String) throws -> JSONValue {
        guard case .array(let calls) = toolCalls else {
            throw APIError.invalid("'\(param)' must be an array", param: param)
        }
        return .array(
            try calls.enumerated().map { index, call in
                let place = "\(param)[\(index)]"
                guard case .object(var members) = call, case .object(var function)? = call["function"],
                    case .string? = call["function"]?["name"]
                else {
                    throw APIError.invalid("'\(place)' must be an object with 'function.name'", param: place)
                }
                guard call["type"] == nil || call["type"] == "function" else {
                    throw APIError.invalid("'\(place).type' must be 'function'", param: "\(place).type")
                }
                if case .string(let text)? = call["function"]?["arguments"] {
                    guard let parsed = try? JSONParser().parse(text) else {
                        throw APIError.invalid("'\(place).function.arguments' is not valid JSON", param: "\(place).function.arguments")
                    }
                    function.removeAll { $0.0 == "arguments" }
                    function.append(("arguments", parsed))
                }
                members.removeAll { $0.0 == "function" }
                members.append(("function", .object(function)))
                return .object(members)
            })
    }
}

/// The `prompt` of `/v1/completions`: text to tokenize, or token ids as they are.
public enum PromptInput: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// `POST /v1/completions`, validated. A list of prompts gives one choice per prompt (times `n`).
public struct CompletionRequest: Sendable {
    public var model: String
    public var prompts: [PromptInput]
    public var echo: Bool
    public var options: GenerationOptions

    public init(body: JSONValue, limits: GenerationOptions.Limits = .init(), maxPrompts: Int = 16) throws {
        let fields = try RequestFields(body)
        guard let model = try fields.string("model") else {
            throw APIError.invalid("'model' is required", param: "model")
        }
        self.model = model
        guard let prompt = fields.value("prompt") else {
            throw APIError.invalid("'prompt' is required", param: "prompt")
        }
        prompts = try Self.readPrompts(prompt, fields: fields)
        guard !prompts.isEmpty else { throw APIError.invalid("'prompt' must not be empty", param: "prompt") }
        guard prompts.count <= maxPrompts else {
            throw APIError.invalid("'prompt' may hold at most \(maxPrompts) prompts, got \(prompts.count)", param: "prompt")
        }
        echo = try fields.bool("echo") ?? false
        if fields.value("suffix") != nil {
            throw APIError.invalid("'suffix' is not supported", param: "suffix")
        }
        options = try GenerationOptions(fields: fields, logprobsStyle: .completions, limits: limits)
        if options.n * prompts.count > limits.maxN {
            throw APIError.invalid("'n' × number of prompts may be at most \(limits.maxN)", param: "n")
        }
        // best_of = n is what Kiln does anyway; more would rank candidates it does not return.
        let n = options.n
        try RequestFieldPolicy.acceptDefaultOnly(
            "best_of", in: fields, reason: "Kiln returns every candidate it generates; 'best_of' must equal 'n'"
        ) { $0 == .int(n) }
        try fields.rejectUnread()
    }

    private static func readPrompts(_ value: JSONValue, fields: RequestFields) throws -> [PromptInput] {
        let message = "'prompt' must be a string, an array of token ids, or an array of either"
        switch value {
        case .string(let text):
            return [.text(text)]
        case .array(let items):
            if items.isEmpty { return [] }
            if items.allSatisfy({ if case .int = $0 { return true } else { return false } }) {
                return [.tokens(try tokenIDs(items))]
            }
            return try items.map { item in
                switch item {
                case .string(let text): return .text(text)
                case .array(let ids): return .tokens(try tokenIDs(ids))
                default: throw APIError.invalid(message, param: "prompt")
                }
            }
        default:
            throw APIError.invalid(message, param: "prompt")
        }
    }

    private static func tokenIDs(_ items: [JSONValue]) throws -> [Int] {
        try items.map {
            guard case .int(let id) = $0, id >= 0, id <= Int(Int32.max) else {
                throw APIError.invalid("token ids in 'prompt' must be non-negative integers", param: "prompt")
            }
            return id
        }
    }
}
