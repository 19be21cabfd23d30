/// The sampling and stopping parameters shared by `/v1/completions` and `/v1/chat/completions`,
/// validated. Ranges follow OpenAI's where OpenAI defines them (temperature 0…2, penalties −2…2,
/// top_p 0…1, at most 4 stop sequences, logit bias −100…100) and llama.cpp's for its extensions.
public struct GenerationOptions: Sendable, Equatable {
    public var maxTokens: Int?
    public var temperature: Double = 1
    public var topP: Double = 1
    public var topK: Int = 0
    public var minP: Double = 0
    public var typicalP: Double = 1
    public var presencePenalty: Double = 0
    public var frequencyPenalty: Double = 0
    public var repeatPenalty: Double = 1
    public var seed: UInt64?
    public var stop: [String] = []
    /// Token id → additive bias; ids are checked against the vocabulary by the handler.
    public var logitBias: [Int: Double] = [:]
    public var n: Int = 1
    /// Number of top alternatives per position, or nil when log-probabilities were not asked for.
    public var topLogprobs: Int?
    /// Bans the end-of-generation tokens (as llama.cpp does), so the answer runs to its limit.
    public var ignoreEOS = false
    public var stream = false
    public var includeUsageInStream = false
    public var user: String?
    /// What the output must follow (`response_format`, `grammar`, `json_schema`), if anything.
    public var outputFormat: OutputFormat?

    public init() {}

    /// Limits that are settings of the server rather than of the protocol.
    public struct Limits: Sendable {
        public var maxN = 8
        public var maxTopLogprobs = 20
        public var maxStopSequences = 4
        public var maxStopLength = 256
        public var maxLogitBiasEntries = 1024
        public init() {}
    }

    /// Reads the shared parameters. `logprobsStyle` is `.chat` for chat (`logprobs: bool` +
    /// `top_logprobs: int`) and `.completions` for legacy completions (`logprobs: int`).
    init(fields: RequestFields, logprobsStyle: LogprobsStyle, limits: Limits) throws {
        if let value = try fields.int("max_completion_tokens", in: 1...Int.max) {
            maxTokens = value
        } else if let value = try fields.int("max_tokens", in: 1...Int.max) {
            maxTokens = value
        }
        temperature = try fields.double("temperature", in: 0...2) ?? temperature
        topP = try fields.double("top_p", in: 0...1) ?? topP
        topK = try fields.int("top_k", in: 0...Int(Int32.max)) ?? topK
        minP = try fields.double("min_p", in: 0...1) ?? minP
        typicalP = try fields.double("typical_p", in: 0...1) ?? typicalP
        presencePenalty = try fields.double("presence_penalty", in: -2...2) ?? presencePenalty
        frequencyPenalty = try fields.double("frequency_penalty", in: -2...2) ?? frequencyPenalty
        repeatPenalty = try fields.double("repeat_penalty", in: 0...10) ?? repeatPenalty
        // The sampler takes these as Float divisors or probability masses: 0, or a value that rounds
        // to 0 as a Float (1e-300), is outside its domain.
        for (name, value) in [("top_p", topP), ("typical_p", typicalP), ("repeat_penalty", repeatPenalty)] where Float(value) <= 0 {
            throw APIError.invalid("'\(name)' must be greater than 0, got \(value)", param: name)
        }
        if let value = fields.value("seed") {
            guard case .int(let s) = value else { throw fields.typeError("seed", "an integer", value) }
            seed = UInt64(bitPattern: Int64(s))
        }
        stop = try Self.readStop(fields, limits: limits)
        logitBias = try Self.readLogitBias(fields, limits: limits)
        n = try fields.int("n", in: 1...limits.maxN) ?? n
        switch logprobsStyle {
        case .chat:
            let wanted = try fields.bool("logprobs") ?? false
            let top = try fields.int("top_logprobs", in: 0...limits.maxTopLogprobs)
            if top != nil && !wanted {
                throw APIError.invalid("'top_logprobs' requires 'logprobs' to be true", param: "top_logprobs")
            }
            topLogprobs = wanted ? (top ?? 0) : nil
        case .completions:
            topLogprobs = try fields.int("logprobs", in: 0...limits.maxTopLogprobs)
        }
        ignoreEOS = try fields.bool("ignore_eos") ?? false
        stream = try fields.bool("stream") ?? false
        if let options = fields.value("stream_options") {
            let optionFields = try RequestFields(options, context: "stream_options")
            includeUsageInStream = try optionFields.bool("include_usage") ?? false
            try optionFields.rejectUnread()
        }
        user = try fields.string("user")
        outputFormat = try OutputFormat.read(fields)
        if outputFormat != nil && ignoreEOS {
            throw APIError.invalid(
                "'ignore_eos' cannot be combined with a constrained output format, which ends the answer itself", param: "ignore_eos")
        }
    }

    enum LogprobsStyle { case chat, completions }

    private static func readStop(_ fields: RequestFields, limits: Limits) throws -> [String] {
        guard let value = fields.value("stop") else { return [] }
        var stops: [String]
        switch value {
        case .string(let s): stops = [s]
        case .array(let items):
            stops = try items.map {
                guard case .string(let s) = $0 else { throw fields.typeError("stop", "a string or an array of strings", $0) }
                return s
            }
        default: throw fields.typeError("stop", "a string or an array of strings", value)
        }
        guard stops.count <= limits.maxStopSequences else {
            throw APIError.invalid("'stop' may hold at most \(limits.maxStopSequences) sequences, got \(stops.count)", param: "stop")
        }
        for stop in stops where stop.isEmpty || stop.utf8.count > limits.maxStopLength {
            throw APIError.invalid("each 'stop' sequence must be 1 to \(limits.maxStopLength) bytes long", param: "stop")
        }
        return stops
    }

    private static func readLogitBias(_ fields: RequestFields, limits: Limits) throws -> [Int: Double] {
        guard let value = fields.value("logit_bias") else { return [:] }
        guard case .object(let members) = value else { throw fields.typeError("logit_bias", "an object", value) }
        guard members.count <= limits.maxLogitBiasEntries else {
            throw APIError.invalid("'logit_bias' may hold at most \(limits.maxLogitBiasEntries) entries", param: "logit_bias")
        }
        var bias: [Int: Double] = [:]
        for (key, entry) in members {
            guard let token = Int(key), token >= 0 else {
                throw APIError.invalid("'logit_bias' keys must be token ids, got '\(key)'", param: "logit_bias")
            }
            let number: Double
            switch entry {
            case .int(let i): number = Double(i)
            case .double(let d): number = d
            default: throw fields.typeError("logit_bias", "an object of numbers", entry)
            }
            guard (-100...100).contains(number) else {
                throw APIError.invalid("'logit_bias' values must be between -100 and 100, got \(number)", param: "logit_bias")
            }
            bias[token] = number
        }
        return bias
    }
}
