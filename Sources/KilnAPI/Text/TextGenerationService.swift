import Foundation
import KilnGrammar
import KilnHTTP
import KilnJSON
import KilnServe
import KilnTemplate
import KilnText
import KilnTokenizer

/// The OpenAI-compatible text endpoints over one language model: chat and text completions
/// (plain or streamed), models, and llama.cpp's tokenize / detokenize / apply-template.
///
/// Handlers validate and tokenize on the connection's queue, submit one job per choice to the
/// scheduler and return at once; the answer is sent from the scheduler's events (see
/// `GenerationRun`). A client that goes away cancels its jobs.
public final class TextGenerationService: Sendable {
    /// Limits of the text API; each is a setting of `kiln serve`.
    public struct Settings: Sendable {
        public var generation = GenerationOptions.Limits()
        /// Most prompts in one `/v1/completions` request.
        public var maxPrompts = 16
        /// `max_tokens` when a request gives none (further capped by the context left).
        public var defaultMaxTokens = 512
        /// Wall-clock limit of one job, queued and running (nil: none).
        public var requestTimeout: Duration? = .seconds(600)
        /// Bounds on the grammars and JSON Schemas requests constrain their output to.
        public var grammarLimits = GrammarLimits()
        /// Bytes of compiled grammars kept for reuse.
        public var grammarCacheBytes = 64 << 20
        public init() {}
    }

    public let modelID: String
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?
    public let contextLength: Int
    public let settings: Settings
    /// How the model writes tool calls, from its chat template.
    public let toolCallSyntax: ToolCallSyntax
    /// The control tokens of that syntax, decoded as text.
    private let toolSyntaxTokens: Set<Int32>
    private let scheduler: Scheduler
    private let outputConstraints: OutputConstraints

    public init(
        modelID: String, tokenizer: Tokenizer, template: ChatTemplate?, contextLength: Int,
        scheduler: Scheduler, settings: Settings = Settings()
    ) {
        self.modelID = modelID
        self.tokenizer = tokenizer
        self.template = template
        self.contextLength = contextLength
        self.scheduler = scheduler
        self.settings = settings
        toolCallSyntax = ToolCallSyntax.detect(templateSource: template?.source)
        toolSyntaxTokens = toolCallSyntax.syntaxTokens(in: tokenizer)
        outputConstraints = OutputConstraints(
            tokenizer: tokenizer, limits: settings.grammarLimits, cacheBytes: settings.grammarCacheBytes, renderedTokens: toolSyntaxTokens)
    }

    /// Registers the text endpoints over one language model. `service` is asked on every
    /// request: until the model has loaded it returns nil and the endpoints answer 503, so the
    /// server can listen (and answer `/health`) before the model is ready.
    ///
    /// `otherModels` names models served beside this one (the image model): `/v1/models` lists
    /// them after the language model.
    public static func register(
        on router: Router, service: @escaping @Sendable () -> TextGenerationService?,
        otherModels: @escaping @Sendable () -> [String] = { [] }
    ) {
        register(on: router, models: { service().map { SingleTextModel(service: $0) } }, otherModels: otherModels)
    }

    /// Registers the text endpoints over several language models: each request goes to the one
    /// its `model` names (see ``TextModelDirectory``); nil until the models are set up (503).
    public static func register(
        on router: Router, models: @escaping @Sendable () -> TextModelDirectory?,
        otherModels: @escaping @Sendable () -> [String] = { [] }
    ) {
        TextModelRoutes.register(on: router, models: models, otherModels: otherModels)
    }

    static func modelObject(id: String, created: Int) -> JSONValue {
        .object([("id", .string(id)), ("object", "model"), ("created", .int(created)), ("owned_by", "kiln")])
    }

    static func parseBody(_ request: HTTPRequest) throws -> JSONValue {
        do {
            return try JSONParser().parse(request.body)
        } catch {
            throw APIError.invalid("The request body is not valid JSON: \(error)")
        }
    }

    private func checkModel(_ name: String) throws {
        guard name == modelID else { throw APIError.modelNotFound(name, available: [modelID]) }
    }

    // MARK: Chat

    /// The prompt of a chat: the template over the messages and, where it shows them itself, the
    /// tools; for the `generic` syntax Kiln describes the tools in the system message instead.
    func renderChat(_ messages: [JSONValue], tools: ToolRequest? = nil) throws -> String {
        guard let template else {
            throw APIError.invalid("The model has no chat template; use /v1/completions", param: "messages")
        }
        let special: (Int32?) -> String = { id in id.flatMap { self.tokenizer.tokenText($0) } ?? "" }
        var messages = messages
        var members: [(String, JSONValue)] = [("add_generation_prompt", true)]
        if let tools {
            if toolCallSyntax.templateShowsTools {
                members.append(("tools", tools.templateTools))
            } else {
                messages = Self.addingSystemText(toolCallSyntax.genericInstructions(for: tools), to: messages)
            }
        }
        let context = JSONValue.object(
            [("messages", .array(messages))] + members + [
                ("bos_token", .string(special(tokenizer.bosToken))), ("eos_token", .string(special(tokenizer.eosToken))),
            ])
        do {
            return try template.render(jsonContext: Data(context.serialized.utf8))
        } catch {
            throw APIError.invalid(
                "The chat template failed on these messages: \(error)", param: "messages",
                code: "template_error")
        }
    }

    /// `messages` with `text` after the first system message's content, or in a new one first.
    private static func addingSystemText(_ text: String, to messages: [JSONValue]) -> [JSONValue] {
        var messages = messages
        if case .object(var members)? = messages.first, messages.first?["role"] == "system",
            case .string(let content)? = messages.first?["content"]
        {
            members.removeAll { $0.0 == "content" }
            members.append(("content", .string(content + "\n\n" + text)))
            messages[0] = .object(members)
        } else {
            messages.insert(.object([("role", "system"), ("content", .string(text))]), at: 0)
        }
        return messages
    }

    func startChat(body: JSONValue, _ responder: HTTPResponder) throws {
        let chat = try ChatCompletionRequest(body: body, limits: settings.generation)
        try checkModel(chat.model)
        let prompt = try renderChat(chat.messages, tools: chat.tools)
        // The template writes any BOS itself; add one only when it did not and the model wants it.
        let startsWithBOS = tokenizer.bosToken.flatMap { tokenizer.tokenText($0) }.map { prompt.hasPrefix($0) } ?? false
        let tokens = tokenizer.encode(prompt, addSpecial: !startsWithBOS, parseSpecial: true)
        let toolConstraint = try chat.tools.map { try outputConstraints.source(for: $0, syntax: toolCallSyntax) }
        try start(
            kind: .chat, prompts: [(tokens, "")], options: chat.options, model: chat.model, responder: responder,
            idPrefix: "chatcmpl-", tools: chat.tools.map { ($0, toolConstraint!) })
    }

    // MARK: Completions

    func startCompletion(body: JSONValue, _ responder: HTTPResponder) throws {
        let completion = try CompletionRequest(
            body: body, limits: settings.generation,
            maxPrompts: settings.maxPrompts)
        try checkModel(completion.model)
        let prompts = try completion.prompts.map { prompt -> ([Int32], String) in
            switch prompt {
            case .text(let text):
                return (tokenizer.encode(text, addSpecial: true, parseSpecial: true), completion.echo ? text : "")
            case .tokens(let ids):
                let tokens = try checkedTokens(ids, param: "prompt")
                return (tokens, completion.echo ? tokenizer.decode(tokens, renderSpecial: true) : "")
            }
        }
        try start(
            kind: .text, prompts: prompts, options: completion.options, model: completion.model,
            responder: responder, idPrefix: "cmpl-")
    }

    private func checkedTokens(_ ids: [Int], param: String) throws -> [Int32] {
        try ids.map {
            guard $0 < tokenizer.vocabularySize else {
                throw APIError.invalid("token id \($0) is outside the vocabulary (size \(tokenizer.vocabularySize))", param: param)
            }
            return Int32($0)
        }
    }

    // MARK: Jobs

    private func start(
        kind: GenerationRun.Kind, prompts: [([Int32], String)], options: GenerationOptions,
        model: String, responder: HTTPResponder, idPrefix: String,
        tools: (request: ToolRequest, constraint: any TokenConstraintSource)? = nil
    ) throws {
        for (tokens, _) in prompts {
            guard !tokens.isEmpty else { throw APIError.invalid("The prompt is empty", param: "prompt") }
            guard tokens.count < contextLength else {
                throw APIError.invalid(
                    "The prompt has \(tokens.count) tokens but the context length is \(contextLength)",
                    param: "messages", code: "context_length_exceeded")
            }
            if let maxTokens = options.maxTokens, tokens.count + maxTokens > contextLength {
                throw APIError.invalid(
                    "The prompt (\(tokens.count) tokens) plus max_tokens (\(maxTokens)) exceeds the context length of \(contextLength) tokens",
                    param: "max_tokens", code: "context_length_exceeded")
            }
        }
        for token in options.logitBias.keys where token >= tokenizer.vocabularySize {
            throw APIError.invalid("logit_bias names token \(token), outside the vocabulary", param: "logit_bias")
        }

        let constraint = try tools?.constraint ?? options.outputFormat.map { try outputConstraints.source(for: $0) }
        let writer = CompletionResponseWriter(
            id: idPrefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
            created: Int(Date().timeIntervalSince1970), model: model)
        var choices: [GenerationRun.Choice] = []
        var requests: [GenerationRequest] = []
        for (tokens, prefix) in prompts {
            for copy in 0..<options.n {
                choices.append(
                    .init(
                        detokenizer: detokenizer(),
                        stops: StopSequenceMatcher(stops: options.stop), prefix: prefix,
                        countsPrompt: copy == 0, trailingWhitespace: options.outputFormat?.isJSON == true ? TrailingWhitespaceTrimmer() : nil,
                        toolCalls: tools.map { ToolCallParser(syntax: toolCallSyntax, freeTextFirst: $0.request.choice == .auto) }))
                requests.append(
                    GenerationRequest(
                        promptTokens: tokens,
                        maxNewTokens: options.maxTokens ?? min(settings.defaultMaxTokens, contextLength - tokens.count),
                        stopTokenIDs: options.ignoreEOS ? [] : tokenizer.endOfGenerationTokens,
                        sampling: TextSampling(
                            parameters: samplingParameters(options, choice: copy, banning: options.ignoreEOS ? tokenizer.endOfGenerationTokens : []),
                            topLogprobs: options.topLogprobs, constraint: constraint),
                        timeout: settings.requestTimeout))
            }
        }
        let run = GenerationRun(
            kind: kind, options: options, tokenizer: tokenizer, writer: writer,
            responder: responder, choices: choices)
        run.submitJobs(count: requests.count) { (index, onEvent) throws(ServeError) -> Job in
            try scheduler.submit(requests[index], onEvent: onEvent)
        }
    }

    /// A detokenizer for one choice. It shows the tool-call syntax's control tokens, as the
    /// grammars' vocabulary has them: a constrained answer's text is what its grammar matched.
    private func detokenizer() -> StreamingDetokenizer {
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        detokenizer.renderedTokens = toolSyntaxTokens
        return detokenizer
    }

    /// Choice `choice` of `n` draws from seed + choice, so that choices differ yet a seeded
    /// request is reproducible. `banned` tokens (the end-of-generation ones under `ignore_eos`,
    /// as llama.cpp bans them) get a bias of −∞ over any the request gave.
    private func samplingParameters(_ options: GenerationOptions, choice: Int, banning banned: Set<Int32> = []) -> SamplingParameters {
        var parameters = SamplingParameters(
            temperature: Float(options.temperature), topK: options.topK, topP: Float(options.topP),
            minP: Float(options.minP), typicalP: Float(options.typicalP),
            repetitionPenalty: Float(options.repeatPenalty), presencePenalty: Float(options.presencePenalty),
            frequencyPenalty: Float(options.frequencyPenalty),
            logitBias: Dictionary(uniqueKeysWithValues: options.logitBias.map { (Int32($0.key), Float($0.value)) }),
            seed: options.seed.map { $0 &+ UInt64(choice) })
        parameters.ban(banned)
        return parameters
    }

    // MARK: Tokenize

    func tokenize(body: JSONValue) throws -> JSONValue {
        let fields = try RequestFields(body)
        guard let content = try fields.string("content") else {
            throw APIError.invalid("'content' is required", param: "content")
        }
        let tokens = tokenizer.encode(
            content, addSpecial: try fields.bool("add_special") ?? false,
            parseSpecial: try fields.bool("parse_special") ?? true)
        let withPieces = try fields.bool("with_pieces") ?? false
        try fields.rejectUnread()
        if withPieces {
            return .object([
                (
                    "tokens",
                    .array(
                        tokens.map { id in
                            .object([("id", .int(Int(id))), ("piece", .string(String(decoding: tokenizer.pieceBytes(id), as: UTF8.self)))])
                        })
                )
            ])
        }
        return .object([("tokens", .array(tokens.map { .int(Int($0)) }))])
    }

    func detokenize(body: JSONValue) throws -> JSONValue {
        let fields = try RequestFields(body)
        guard case .array(let items)? = fields.value("tokens") else {
            throw APIError.invalid("'tokens' must be an array of token ids", param: "tokens")
        }
        let ids = try items.map { item -> Int in
            guard case .int(let id) = item, id >= 0 else { throw APIError.invalid("'tokens' must hold token ids", param: "tokens") }
            return id
        }
        try fields.rejectUnread()
        return .object([("content", .string(tokenizer.decode(try checkedTokens(ids, param: "tokens"), renderSpecial: true)))])
    }
}
