import KilnJSON

/// A complete response: status, headers and a body sent with `Content-Length`.
///
/// The connection adds `Content-Length`, `Date`, `Server` and `Connection` itself; a handler sets
/// only what is specific to its answer (`Content-Type`, `Allow`, `WWW-Authenticate`, ...).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is `text` in UTF-8 with the given content type.
    public init(status: Int = 200, contentType: String, text: String, headers: HTTPHeaders = HTTPHeaders()) {
        var allHeaders = headers
        if allHeaders.contains(name: "Content-Type") {
            allHeaders.replaceOrAdd(name: "Content-Type", value: contentType)
        } else {
            allHeaders.add(name: "Content-Type", value: contentType)
        }
        self.init(status: status, headers: allHeaders, body: Array(text.utf8))
    }

    /// A JSON response from already-encoded JSON text.
    public static func json(_ json: String, status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", text: json, headers: headers)
    }

    /// An OpenAI-style error: `{"error":{"message":…,"type":…,"param":…,"code":…,"request_id":…}}`
    /// (`request_id` only when given: pass the request's ``HTTPRequest/requestID``).
    public static func error(
        status: Int, message: String, type: String = "invalid_request_error",
        param: String? = nil, code: String? = nil,
        headers: HTTPHeaders = HTTPHeaders(), requestID: String? = nil
    ) -> HTTPResponse {
        let json = APIErrorBody(message: message, type: type, param: param, code: code, requestID: requestID).json
        return .json(json, status: status, headers: headers)
    }

    /// An error the server itself produces, with the type and code conventional for `status`.
    public static func standardError(
        status: Int, message: String, headers: HTTPHeaders = HTTPHeaders(), requestID: String? = nil
    ) -> HTTPResponse {
        var body = APIErrorBody.forStatus(status, message: message)
        body.requestID = requestID
        return .json(body.json, status: status, headers: headers)
    }

    /// Whether a response with this status never has a body (1xx, 204, 304; RFC 9110 §6.4.1).
    public static func statusForbidsBody(_ status: Int) -> Bool {
        (100..<200).contains(status) || status == 204 || status == 304
    }
}

/// The JSON error object of the OpenAI API, written without a JSON library so that error paths
/// cannot fail to encode.
///
/// `request_id`, when set, is the request's ``RequestID``, the value of the response's
/// `X-Request-ID`: an extra member of `error`, which OpenAI's client libraries ignore when they
/// read `message`, `type`, `param` and `code` (OpenAI itself sends the id only as the header).
public struct APIErrorBody: Sendable, Equatable {
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    public var requestID: String?

    public init(message: String, type: String, param: String? = nil, code: String? = nil, requestID: String? = nil) {
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.requestID = requestID
    }

    /// The error for a status the server itself produces (parse errors, timeouts, refusals).
    public static func forStatus(_ status: Int, message: String) -> APIErrorBody {
        let type: String
        let code: String
        switch status {
        case 401:
            type = "invalid_request_error"
            code = "invalid_api_key"
        case 404:
            type = "invalid_request_error"
            code = "not_found"
        case 405:
            type = "invalid_request_error"
            code = "method_not_allowed"
        case 408:
            type = "invalid_request_error"
            code = "request_timeout"
        case 413:
            type = "invalid_request_error"
            code = "request_too_large"
        case 414:
            type = "invalid_request_error"
            code = "uri_too_long"
        case 431:
            type = "invalid_request_error"
            code = "headers_too_large"
        case 501:
            type = "invalid_request_error"
            code = "not_implemented"
        case 503:
            type = "server_error"
            code = "service_unavailable"
        case 505:
            type = "invalid_request_error"
            code = "http_version_not_supported"
        case 500...:
            type = "server_error"
            code = "internal_error"
        default:
            type = "invalid_request_error"
            code = "bad_request"
        }
        return APIErrorBody(message: message, type: type, code: code)
    }

    public var json: String {
        func quoted(_ value: String?) -> String {
            guard let value else { return "null" }
            return JSONValue.quoted(value)
        }
        let head =
            "{\"error\":{\"message\":\(quoted(message)),\"type\":\(quoted(type)),"
            + "\"param\":\(quoted(param)),\"code\":\(quoted(code))"
        guard let requestID else { return head + "}}" }
        return head + ",\"request_id\":\(quoted(requestID))}}"
    }
}
