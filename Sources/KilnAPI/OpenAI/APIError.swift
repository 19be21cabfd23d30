import KilnHTTP
import KilnJSON
import KilnServe

/// An error at the API edge: its HTTP status and the OpenAI-style body
/// `{"error":{"message","type","param","code"}}` that clients' libraries parse.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?
    /// Extra response headers (`Retry-After` on 429, `WWW-Authenticate` on 401).
    public var headers: [(String, String)] = []

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status) \(type): \(message)" }

    public var body: JSONValue {
        [
            "error": .object([
                ("message", .string(message)),
                ("type", .string(type)),
                ("param", param.map(JSONValue.string) ?? .null),
                ("code", code.map(JSONValue.string) ?? .null),
            ])
        ]
    }

    /// A request the server understood but will not do: 400 naming the parameter at fault.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(
            status: 404, message: "The model '\(model)' does not exist", type: "invalid_request_error",
            param: "model", code: "model_not_found")
    }

    public static func queueFull(retryAfterSeconds: Int) -> APIError {
        var error = APIError(
            status: 429, message: "The server is at capacity; retry shortly",
            type: "rate_limit_error", code: "queue_full")
        error.headers = [("Retry-After", String(retryAfterSeconds))]
        return error
    }

    public static func unavailable(_ message: String) -> APIError {
        APIError(status: 503, message: message, type: "server_error", code: "unavailable")
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error")
    }
}

extension APIError {
    /// The error of the serving layer, with the status the API answers it with.
    public init(serveError: ServeError) {
        switch serveError {
        case let .queueFull(_, retryAfter):
            self = .queueFull(retryAfterSeconds: retryAfter)
        case .shuttingDown:
            self = .unavailable("The server is shutting down")
        case .deadlineExceeded:
            self = APIError(
                status: 504, message: "The request did not finish within its deadline",
                type: "server_error", code: "deadline_exceeded")
        case let .invalidRequest(reason):
            self = .invalid(reason)
        case let .exceedsKVCapacity(required, capacity):
            self = .invalid(
                "The request needs \(required) tokens of KV cache but the server holds \(capacity)",
                param: "max_tokens", code: "context_length_exceeded")
        case let .invalidSettings(reason), let .executorFailed(reason):
            self = .internalError(reason)
        }
    }

    /// The HTTP response carrying this error.
    public var response: HTTPResponse {
        var headers = HTTPHeaders()
        for (name, value) in self.headers { headers.add(name: name, value: value) }
        return .json(body.serialized, status: status, headers: headers)
    }
}
