/// Routes requests by method and path to handlers, answering what no handler covers:
/// 404 and 405 (with `Allow`) as OpenAI-style JSON errors, `OPTIONS` (CORS preflight included)
/// without authentication, `HEAD` through the `GET` handler, and 401 for a missing or wrong API
/// key on routes that require one.
///
/// Configure it before the server starts; afterwards it is only read, from any queue.
///
/// ```swift
/// let router = Router(cors: CORSPolicy(allowedOrigins: ["https://app.example"]),
///                     authenticator: APIKeyAuthenticator(keys: ["sk-…"]))
/// router.get("/health", access: .public) { _, responder in responder.respond(.json("{\"status\":\"ok\"}")) }
/// router.post("/v1/chat/completions") { request, responder in … }
/// router.get("/v1/models/{model}") { request, responder in
///     let model = request.pathParameters["model"]
///     …
/// }
/// ```
public final class Router: @unchecked Sendable {
    /// Whether a route needs an API key (when keys are configured at all).
    public enum Access: Sendable {
        case authenticated
        case `public`
    }

    struct Route {
        let method: String
        let pattern: String
        let segments: [Segment]
        let access: Access
        let handler: HTTPHandler
    }

    enum Segment: Equatable {
        case literal(String)
        case parameter(String)
    }

    public let cors: CORSPolicy
    public let authenticator: APIKeyAuthenticator?
    private var routes: [Route] = []

    public init(cors: CORSPolicy = .disabled, authenticator: APIKeyAuthenticator? = nil) {
        self.cors = cors
        self.authenticator = authenticator
    }

    /// Adds a route. `pattern` is a path whose `{name}` segments match any one segment and are
    /// passed in ``HTTPRequest/pathParameters``.
    public func add(_ method: String, _ pattern: String, access: Access = .authenticated,
                    _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, pattern: pattern, segments: Self.segments(of: pattern),
                            access: access, handler: handler))
    }

    public func get(_ pattern: String, access: Access = .authenticated, _ handler: @escaping HTTPHandler) {
        add("GET", pattern, access: access, handler)
    }

    public func post(_ pattern: String, access: Access = .authenticated, _ handler: @escaping HTTPHandler) {
        add("POST", pattern, access: access, handler)
    }

    public func delete(_ pattern: String, access: Access = .authenticated, _ handler: @escaping HTTPHandler) {
        add("DELETE", pattern, access: access, handler)
    }

    /// The router as a server handler.
    public var handler: HTTPHandler {
        { [self] request, responder in handle(request, responder) }
    }

    /// Routes one request.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let path = request.path
        let pathSegments = Self.split(path)
        var matches: [(Route, [String: String])] = []
        for route in routes {
            if let parameters = Self.match(route.segments, pathSegments) { matches.append((route, parameters)) }
        }
        let origin = request.headers["Origin"]
        let corsAllowed = origin.map { cors.allows(origin: $0) } ?? false
        if let origin, corsAllowed {
            responder.addHeader(name: "Access-Control-Allow-Origin", value: cors.allowOriginValue(for: origin))
            if cors.allowOriginValue(for: origin) != "*" { responder.addHeader(name: "Vary", value: "Origin") }
        }
        guard !matches.isEmpty else {
            responder.respond(.error(status: 404, message: "Invalid URL (\(request.method) \(path))",
                                     code: "not_found"))
            return
        }
        let method = request.method
        var chosen = matches.first { $0.0.method == method }
        if chosen == nil && method == "HEAD" { chosen = matches.first { $0.0.method == "GET" } }
        guard let (route, parameters) = chosen else {
            responder.route = matches[0].0.pattern
            let methods = Self.allowedMethods(matches.map(\.0.method))
            if method == "OPTIONS" {
                respondToOptions(request, responder, methods: methods, corsAllowed: corsAllowed)
            } else {
                responder.respond(.error(status: 405, message: "Method \(method) is not allowed for \(path).",
                                         code: "method_not_allowed",
                                         headers: ["Allow": methods.joined(separator: ", ")]))
            }
            return
        }
        responder.route = route.pattern
        if route.access == .authenticated, let authenticator, !authenticator.authorizes(request.headers["Authorization"]) {
            responder.respond(.error(status: 401,
                                     message: "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.",
                                     code: "invalid_api_key", headers: ["WWW-Authenticate": "Bearer"]))
            return
        }
        var routed = request
        routed.pathParameters = parameters
        route.handler(routed, responder)
    }

    /// `OPTIONS` needs no key: a browser's preflight never carries one.
    private func respondToOptions(_ request: HTTPRequest, _ responder: HTTPResponder, methods: [String],
                                  corsAllowed: Bool) {
        var headers: HTTPHeaders = ["Allow": methods.joined(separator: ", ")]
        if corsAllowed, request.headers["Access-Control-Request-Method"] != nil {
            headers.add(name: "Access-Control-Allow-Methods", value: methods.joined(separator: ", "))
            headers.add(name: "Access-Control-Allow-Headers", value: cors.allowedHeaders.joined(separator: ", "))
            headers.add(name: "Access-Control-Max-Age", value: String(cors.maxAgeSeconds))
        }
        responder.respond(HTTPResponse(status: 204, headers: headers))
    }

    static func allowedMethods(_ methods: [String]) -> [String] {
        var result: [String] = []
        for method in methods where !result.contains(method) { result.append(method) }
        if result.contains("GET") && !result.contains("HEAD") { result.append("HEAD") }
        if !result.contains("OPTIONS") { result.append("OPTIONS") }
        return result
    }

    static func segments(of pattern: String) -> [Segment] {
        split(pattern).map { part in
            if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 {
                return .parameter(String(part.dropFirst().dropLast()))
            }
            return .literal(part)
        }
    }

    static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    static func match(_ segments: [Segment], _ path: [String]) -> [String: String]? {
        guard segments.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .literal(let literal): if literal != part { return nil }
            case .parameter(let name):
                if part.isEmpty { return nil }
                parameters[name] = part
            }
        }
        return parameters
    }
}
