import KilnHTTP
import KilnJSON
import KilnServe
import Logging

/// An error at the API edge: its HTTP status and the OpenAI-style body
/// `{"error":{"message","type","param","code","request_id"}}` that clients' libraries parse
/// (`request_id` is the request's ``RequestID``, also in the response's `X-Request-ID`).
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

    /// The body, with the id of the request it answers when given.
    public func body(requestID: String?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null),
            ("code", code.map(JSONValue.string) ?? .null),
        ]
        if let requestID { fields.append(("request_id", .string(requestID))) }
        return ["error": .object(fields)]
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

    /// The HTTP response carrying this error, with the id of the request it answers when given.
    public func response(requestID: String?) -> HTTPResponse {
        var headers = HTTPHeaders()
        for (name, value) in self.headers { headers.add(name: name, value: value) }
        return .json(body(requestID: requestID).serialized, status: status, headers: headers)
    }

    /// Logs the error against the request that `responder` answers (its `request_id` in the
    /// metadata): server errors (5xx) at `error`, since they need an operator; the client's own
    /// mistakes at `debug`.
    func log(for responder: HTTPResponder) {
        let logger = responder.logger
        let metadata: Logger.Metadata = [
            "status": .stringConvertible(status), "type": .string(type), "code": .string(code ?? "-"),
        ]
        if status >= 500 {
            logger.error("request failed: \(message)", metadata: metadata)
        } else if logger.logLevel <= .debug {
            logger.debug("request refused: \(message)", metadata: metadata)
        }
    }
}

extension HTTPResponder {
    /// Answers with `error`, its body carrying the request's id, and logs it.
    func respond(_ error: APIError) {
        error.log(for: self)
        respond(error.response(requestID: requestID))
    }

    /// Ends an event stream that already started with `error` as its last event (the status is
    /// sent), its body carrying the request's id, and logs it.
    func fail(_ events: EventStreamWriter, with error: APIError, event: String? = nil) {
        error.log(for: self)
        events.send(data: error.body(requestID: requestID).serialized, event: event)
        events.finish()
    }
}
