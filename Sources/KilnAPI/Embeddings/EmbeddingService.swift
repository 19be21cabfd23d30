import Foundation
import KilnHTTP
import KilnJSON
import KilnServe
import KilnTokenizer

/// `POST /v1/embeddings` over the served embedding models: validates and tokenizes the request on the
/// connection's queue, submits one embedding job (all its inputs) to the shared scheduler, which
/// batches inputs across requests, and answers with OpenAI's list of vectors. A client that goes
/// away cancels its job.
public final class EmbeddingService: Sendable {
    /// Limits of the embeddings API; each is a setting of `kiln serve`.
    public struct Settings: Sendable {
        /// Most inputs in one request.
        public var maxInputs = 2048
        /// Most tokens in one request, summed over its inputs.
        public var maxRequestTokens = 300_000
        /// Wall-clock limit of one job, queued and running (nil: none).
        public var requestTimeout: Duration? = .seconds(600)
        public init() {}
    }

    /// What the service needs to know of its model.
    public struct Model: Sendable {
        public var id: String
        public var tokenizer: Tokenizer
        /// The most tokens one input may have, special tokens included.
        public var maxInputTokens: Int
        /// Length of the vectors.
        public var dimensions: Int

        public init(id: String, tokenizer: Tokenizer, maxInputTokens: Int, dimensions: Int) {
            self.id = id
            self.tokenizer = tokenizer
            self.maxInputTokens = maxInputTokens
            self.dimensions = dimensions
        }
    }

    /// The models, by the id requests name; the first answers requests that name none.
    public let models: [Model]
    public let settings: Settings
    private let scheduler: Scheduler

    public init(models: [Model], scheduler: Scheduler, settings: Settings = Settings()) {
        precondition(!models.isEmpty, "an embedding service needs a model")
        self.models = models
        self.scheduler = scheduler
        self.settings = settings
    }

    /// Registers the endpoint. `service` is asked on every request: nil (still loading) answers 503.
    public static func register(on router: Router, service: @escaping @Sendable () -> EmbeddingService?) {
        router.post(
            "/v1/embeddings",
            serviceHandler(loadingMessage: "The embedding model is loading; retry shortly", service: service) { service, request, responder in
                try service.start(request, responder)
            })
    }

    /// The request's inputs as the model's token lists, special tokens included.
    func tokenize(_ body: [UInt8]) throws -> (request: EmbeddingRequest, model: Model, inputs: [[TokenID]]) {
        let json: JSONValue
        do {
            json = try JSONParser().parse(body)
        } catch {
            throw APIError.invalid("The request body is not valid JSON: \(error)")
        }
        let request = try EmbeddingRequest(body: json, maxInputs: settings.maxInputs)
        let model: Model
        if let name = request.model {
            guard let named = models.first(where: { $0.id == name }) else { throw APIError.modelNotFound(name) }
            model = named
        } else {
            model = models[0]
        }
        if let dimensions = request.dimensions, dimensions != model.dimensions {
            throw APIError.invalid(
                "'dimensions' cannot be \(dimensions): the model \(model.id) gives vectors of \(model.dimensions) and does not support shortening them",
                param: "dimensions")
        }
        let tokenizer = model.tokenizer
        let specials = tokenizer.encoderPrefix.count + tokenizer.encoderSuffix.count
        var total = 0
        let inputs = try request.inputs.enumerated().map { index, input -> [TokenID] in
            let tokens: [Int32]
            switch input {
            case .text(let text):
                // Special tokens written in the text ([SEP], …) are parsed, as sentence-transformers'
                // tokenizer (a tokenizer.json's added tokens) and llama.cpp's server (a GGUF's) do.
                tokens = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            case .tokens(let ids):
                if let bad = ids.first(where: { Int($0) >= tokenizer.vocabularySize }) {
                    throw APIError.invalid(
                        "'input' holds token id \(bad), outside the model's vocabulary of \(tokenizer.vocabularySize)", param: "input")
                }
                tokens = ids
            }
            guard let wrapped = tokenizer.encoderInput(tokens, limit: model.maxInputTokens, truncate: request.truncate) else {
                throw APIError.invalid(
                    "input \(index) has \(tokens.count + specials) tokens; the model \(model.id) takes at most \(model.maxInputTokens) (set 'truncate': true to cut longer inputs)",
                    param: "input", code: "context_length_exceeded")
            }
            guard !wrapped.isEmpty else {
                throw APIError.invalid(
                    "input \(index) has no tokens: the model \(model.id) adds no special tokens, so an empty text has nothing to embed",
                    param: "input")
            }
            total += wrapped.count
            guard total <= settings.maxRequestTokens else {
                throw APIError.invalid(
                    "the request holds more than \(settings.maxRequestTokens) tokens; send fewer or shorter inputs", param: "input")
            }
            return wrapped
        }
        return (request, model, inputs)
    }

    private func start(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let (parsed, model, inputs) = try tokenize(request.body)
        let modelID = model.id, format = parsed.encodingFormat
        let job = EmbeddingJobRequest(model: modelID, inputs: inputs, timeout: settings.requestTimeout)
        let submitted: Job
        do {
            submitted = try scheduler.submitEmbedding(job) { event in
                guard event.isTerminal else { return }
                // Off the scheduler thread: formatting thousands of floats is not its work.
                DispatchQueue.global(qos: .userInitiated).async {
                    switch event {
                    case .embeddingsFinished(let vectors, let usage):
                        responder.respond(.json(Self.responseBody(vectors, model: modelID, promptTokens: usage.promptTokens, format: format)))
                    case .error(let error):
                        responder.respond(APIError(serveError: error))
                    default:
                        // `.done` reaches an embedding job only when it was cancelled: the client left.
                        responder.respond(APIError.unavailable("The embedding job was cancelled"))
                    }
                }
            }
        } catch {
            throw APIError(serveError: error)
        }
        responder.cancellation.onCancel { _ in submitted.cancel() }
    }

    /// OpenAI's answer: `{"object":"list","data":[{"object":"embedding","index":i,"embedding":…}],
    /// "model":…,"usage":{…}}`, each vector a JSON array of numbers, or with `base64` the base64
    /// of its little-endian float32 bytes.
    static func responseBody(_ vectors: [[Float]], model: String, promptTokens: Int, format: EmbeddingRequest.EncodingFormat) -> String {
        var out = #"{"object":"list","data":["#
        out.reserveCapacity(64 + vectors.reduce(0) { $0 + $1.count * (format == .float ? 14 : 6) + 48 })
        for (index, vector) in vectors.enumerated() {
            if index > 0 { out += "," }
            out += #"{"object":"embedding","index":"# + String(index) + #","embedding":"#
            switch format {
            case .float:
                out += "["
                for (position, value) in vector.enumerated() {
                    if position > 0 { out += "," }
                    JSONValue.writeNumber(value, to: &out)
                }
                out += "]"
            case .base64:
                var bytes = [UInt8]()
                bytes.reserveCapacity(vector.count * 4)
                for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                JSONValue.writeString(Data(bytes).base64EncodedString(), to: &out)
            }
            out += "}"
        }
        out += #"],"model":"#
        JSONValue.writeString(model, to: &out)
        out += #","usage":{"prompt_tokens":"# + String(promptTokens) + #","total_tokens":"# + String(promptTokens) + "}}"
        return out
    }
}
