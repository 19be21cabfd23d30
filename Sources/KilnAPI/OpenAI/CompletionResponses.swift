import KilnJSON

/// Why a choice ended, in OpenAI's words.
public enum CompletionFinishReason: String, Sendable {
    case stop, length
    case toolCalls = "tool_calls"
}

/// A function call in a chat answer (`message.tool_calls[i]`), or a streamed piece of one
/// (`delta.tool_calls[i]`: the first piece has the id and name, the others argument text).
public struct ToolCallOutput: Sendable, Equatable {
    /// The call's place among the choice's calls.
    public var index: Int
    public var id: String?
    public var name: String?
    /// The arguments as JSON text (in a streamed piece, the next fragment of it).
    public var arguments: String

    public init(index: Int, id: String? = nil, name: String? = nil, arguments: String) {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// The message's shape; `streamed` adds the index, as deltas carry it.
    func json(streamed: Bool) -> JSONValue {
        var function: [(String, JSONValue)] = []
        if let name { function.append(("name", .string(name))) }
        function.append(("arguments", .string(arguments)))
        var members: [(String, JSONValue)] = streamed ? [("index", .int(index))] : []
        if let id { members += [("id", .string(id)), ("type", "function")] }
        members.append(("function", .object(function)))
        return .object(members)
    }
}

/// Token counts of one request, as OpenAI reports them.
public struct Usage: Sendable, Equatable {
    public var promptTokens = 0
    public var completionTokens = 0
    /// Prompt tokens whose KV came from the prefix cache.
    public var cachedPromptTokens = 0

    public init(promptTokens: Int = 0, completionTokens: Int = 0, cachedPromptTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }

    public static func + (a: Usage, b: Usage) -> Usage {
        Usage(
            promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
            cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens)
    }

    public var json: JSONValue {
        [
            "prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens),
            "prompt_tokens_details": ["cached_tokens": .int(cachedPromptTokens)],
        ]
    }
}

/// The log-probability of one generated token and of its most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: String
        public var bytes: [UInt8]
        public var logprob: Double
        public init(token: String, bytes: [UInt8], logprob: Double) {
            self.token = token
            self.bytes = bytes
            self.logprob = logprob
        }
    }
    public var chosen: Alternative
    public var top: [Alternative]

    public init(chosen: Alternative, top: [Alternative]) {
        self.chosen = chosen
        self.top = top
    }

    /// Chat's shape: `{"token","logprob","bytes","top_logprobs":[…]}`.
    var chatJSON: JSONValue {
        func entry(_ a: Alternative) -> [(String, JSONValue)] {
            [("token", .string(a.token)), ("logprob", .double(a.logprob)), ("bytes", .array(a.bytes.map { .int(Int($0)) }))]
        }
        return .object(entry(chosen) + [("top_logprobs", .array(top.map { .object(entry($0)) }))])
    }
}

/// Builds the JSON bodies and stream chunks of the chat and text completion endpoints.
public struct CompletionResponseWriter: Sendable {
    public let id: String
    public let created: Int
    public let model: String

    public init(id: String, created: Int, model: String) {
        self.id = id
        self.created = created
        self.model = model
    }

    // MARK: Chat

    public struct ChatChoice: Sendable {
        public var index: Int
        public var text: String
        public var finishReason: CompletionFinishReason
        public var logprobs: [TokenLogprob]?
        /// The calls the answer made; with any, an empty `text` is a null `content`.
        public var toolCalls: [ToolCallOutput]
        public init(
            index: Int, text: String, finishReason: CompletionFinishReason, logprobs: [TokenLogprob]?, toolCalls: [ToolCallOutput] = []
        ) {
            self.index = index
            self.text = text
            self.finishReason = finishReason
            self.logprobs = logprobs
            self.toolCalls = toolCalls
        }

        var message: JSONValue {
            var members: [(String, JSONValue)] = [("role", "assistant")]
            if toolCalls.isEmpty {
                members.append(("content", .string(text)))
            } else {
                members.append(("content", text.isEmpty ? .null : .string(text)))
                members.append(("tool_calls", .array(toolCalls.map { $0.json(streamed: false) })))
            }
            return .object(members)
        }
    }

    public func chatCompletion(choices: [ChatChoice], usage: Usage) -> JSONValue {
        .object([
            ("id", .string(id)), ("object", "chat.completion"), ("created", .int(created)), ("model", .string(model)),
            (
                "choices",
                .array(
                    choices.map { choice in
                        .object([
                            ("index", .int(choice.index)),
                            ("message", choice.message),
                            ("logprobs", choice.logprobs.map { ["content": .array($0.map(\.chatJSON))] } ?? .null),
                            ("finish_reason", .string(choice.finishReason.rawValue)),
                        ])
                    })
            ),
            ("usage", usage.json),
        ])
    }

    /// One `chat.completion.chunk`. The first chunk of a choice carries the role; the last one the
    /// finish reason (with an empty delta).
    public func chatChunk(
        index: Int, role: Bool = false, content: String?, toolCall: ToolCallOutput? = nil, logprobs: [TokenLogprob]? = nil,
        finishReason: CompletionFinishReason? = nil
    ) -> JSONValue {
        var delta: [(String, JSONValue)] = []
        if role { delta.append(("role", "assistant")) }
        if let content { delta.append(("content", .string(content))) }
        if let toolCall { delta.append(("tool_calls", .array([toolCall.json(streamed: true)]))) }
        return chunk(
            object: "chat.completion.chunk",
            choices: [
                .object([
                    ("index", .int(index)),
                    ("delta", .object(delta)),
                    ("logprobs", logprobs.map { ["content": .array($0.map(\.chatJSON))] } ?? .null),
                    ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null),
                ])
            ])
    }

    /// The final chunk of `stream_options.include_usage`: no choices, only usage.
    public func usageChunk(object: String, usage: Usage) -> JSONValue {
        .object([
            ("id", .string(id)), ("object", .string(object)), ("created", .int(created)),
            ("model", .string(model)), ("choices", .array([])), ("usage", usage.json),
        ])
    }

    // MARK: Text completions

    public struct TextChoice: Sendable {
        public var index: Int
        public var text: String
        public var finishReason: CompletionFinishReason?
        public var logprobs: [TokenLogprob]?
        /// Character offset of the first token's text in the choice's text (non-zero with `echo`).
        public var textOffset: Int
        public init(index: Int, text: String, finishReason: CompletionFinishReason?, logprobs: [TokenLogprob]?, textOffset: Int = 0) {
            self.index = index
            self.text = text
            self.finishReason = finishReason
            self.logprobs = logprobs
            self.textOffset = textOffset
        }

        /// The legacy shape: parallel arrays of tokens, log-probabilities, top maps and offsets.
        var logprobsJSON: JSONValue {
            guard let logprobs else { return .null }
            var offsets: [JSONValue] = []
            var offset = textOffset
            for entry in logprobs {
                offsets.append(.int(offset))
                offset += entry.chosen.token.count
            }
            return .object([
                ("tokens", .array(logprobs.map { .string($0.chosen.token) })),
                ("token_logprobs", .array(logprobs.map { .double($0.chosen.logprob) })),
                (
                    "top_logprobs",
                    .array(
                        logprobs.map { entry in
                            .object(entry.top.map { ($0.token, .double($0.logprob)) })
                        })
                ),
                ("text_offset", .array(offsets)),
            ])
        }

        var json: JSONValue {
            .object([
                ("text", .string(text)), ("index", .int(index)), ("logprobs", logprobsJSON),
                ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null),
            ])
        }
    }

    public func textCompletion(choices: [TextChoice], usage: Usage) -> JSONValue {
        .object([
            ("id", .string(id)), ("object", "text_completion"), ("created", .int(created)),
            ("model", .string(model)), ("choices", .array(choices.map(\.json))), ("usage", usage.json),
        ])
    }

    public func textChunk(_ choice: TextChoice) -> JSONValue {
        chunk(object: "text_completion", choices: [choice.json])
    }

    private func chunk(object: String, choices: [JSONValue]) -> JSONValue {
        .object([
            ("id", .string(id)), ("object", .string(object)), ("created", .int(created)),
            ("model", .string(model)), ("choices", .array(choices)),
        ])
    }
}
