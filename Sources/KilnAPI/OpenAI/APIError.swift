import KilnJSON

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
        ["error": .object([
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null),
            ("code", code.map(JSONValue.string) ?? .null),
        ])]
    }

    /// A request the server understood but will not do: 400 naming the parameter at fault.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(status: 404, message: "The model '\(model)' does not exist", type: "invalid_request_error",
                 param: "model", code: "model_not_found")
    }

    public static func queueFull(retryAfterSeconds: Int) -> APIError {
        var error = APIError(status: 429, message: "The server is at capacity; retry shortly",
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
