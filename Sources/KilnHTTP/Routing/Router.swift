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
        /// Whether some segment is a `{name}` parameter; decided once, when the route is added.
        let hasParameters: Bool

        init(method: String, pattern: String, segments: [Segment], access: Access, handler: @escaping HTTPHandler) {
            self.method = method
            self.pattern = pattern
            self.segments = segments
            self.access = access
            self.handler = handler
            hasParameters = segments.contains { if case .parameter = $0 { return true } else { return false } }
        }
    }

    enum Segment: Equatable {
        case literal(String)
        case parameter(String)
    }

    public let cors: CORSPolicy
    public let authenticator: APIKeyAuthenticator?
    private var routes: [Route] = []
    /// Indices of routes without parameters, by their exact path: most requests are found with
    /// one hash lookup and no allocation.
    private var literalRoutes: [String: [Int]] = [:]
    /// The same paths as a list with their lengths, scanned while the table is small: walking an
    /// array costs a fraction of walking the dictionary's buckets.
    private var literalList: [(path: String, length: Int, indices: [Int])] = []
    /// Below this many literal paths, the table is scanned rather than hashed.
    static let linearLookupLimit = 16
    /// Indices of routes with `{name}` segments, matched segment by segment.
    private var parameterRoutes: [Int] = []

    public init(cors: CORSPolicy = .disabled, authenticator: APIKeyAuthenticator? = nil) {
        self.cors = cors
        self.authenticator = authenticator
    }

    /// Adds a route. `pattern` is a path whose `{name}` segments match any one segment and are
    /// passed in ``HTTPRequest/pathParameters``.
    public func add(
        _ method: String, _ pattern: String, access: Access = .authenticated,
        _ handler: @escaping HTTPHandler
    ) {
        let route = Route(
            method: method, pattern: pattern, segments: Self.segments(of: pattern),
            access: access, handler: handler)
        let index = routes.count
        routes.append(route)
        if route.hasParameters || !pattern.hasPrefix("/") {
            parameterRoutes.append(index)
        } else {
            literalRoutes[pattern, default: []].append(index)
            if let position = literalList.firstIndex(where: { $0.path == pattern }) {
                literalList[position].indices.append(index)
            } else {
                literalList.append((path: pattern, length: pattern.utf8.count, indices: [index]))
            }
        }
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
        let origin = request.headers["Origin"]
        let corsAllowed = origin.map { cors.allows(origin: $0) } ?? false
        if let origin, corsAllowed {
            responder.addHeader(name: "Access-Control-Allow-Origin", value: cors.allowOriginValue(for: origin))
            if cors.allowOriginValue(for: origin) != "*" { responder.addHeader(name: "Vary", value: "Origin") }
        }
        guard let index = firstRoute(for: request.method, path: path) else {
            answerUnrouted(request, responder, path: path, corsAllowed: corsAllowed)
            return
        }
        let route = routes[index]
        responder.route = route.pattern
        if route.access == .authenticated, let authenticator, !authenticator.authorizes(request.headers["Authorization"]) {
            responder.respond(
                .error(
                    status: 401,
                    message: "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.",
                    code: "invalid_api_key", headers: ["WWW-Authenticate": "Bearer"], requestID: request.requestID))
            return
        }
        guard route.hasParameters, let parameters = Self.match(route.segments, Self.split(path)) else {
            route.handler(request, responder)
            return
        }
        var routed = request
        routed.pathParameters = parameters
        route.handler(routed, responder)
    }

    /// The first route, in the order added, that matches `path` and `method` (or GET for HEAD).
    private func firstRoute(for method: String, path: String) -> Int? {
        var chosen: Int? = nil
        var chosenForHead: Int? = nil
        func consider(_ index: Int) {
            let routeMethod = routes[index].method
            if routeMethod == method {
                if chosen == nil || index < chosen! { chosen = index }
            } else if method == "HEAD" && routeMethod == "GET" {
                if chosenForHead == nil || index < chosenForHead! { chosenForHead = index }
            }
        }
        forEachLiteralMatch(path, consider)
        // Parameter routes are in the order added: once past a literal route that matched with
        // the method itself, none of them can come first (`/health` then costs no segment walk).
        for index in parameterRoutes {
            if let chosen, index > chosen { break }
            if Self.matches(routes[index].segments, path) { consider(index) }
        }
        return chosen ?? chosenForHead
    }

    /// Calls `body` with the index of every route whose pattern matches `path`.
    private func forEachMatch(_ path: String, _ body: (Int) -> Void) {
        forEachLiteralMatch(path, body)
        for index in parameterRoutes where Self.matches(routes[index].segments, path) { body(index) }
    }

    /// Calls `body` with the index of every route without parameters whose pattern is `path`.
    private func forEachLiteralMatch(_ path: String, _ body: (Int) -> Void) {
        if literalRoutes.count <= Self.linearLookupLimit {
            // A few comparisons (lengths first) cost less than hashing the path.
            let length = path.utf8.count
            for literal in literalList where literal.length == length && literal.path == path {
                for index in literal.indices { body(index) }
            }
        } else if let indices = literalRoutes[path] {
            for index in indices { body(index) }
        }
    }

    /// No route takes this method: 404 when no pattern matches the path, otherwise 405 with
    /// `Allow`, or the answer to `OPTIONS`.
    private func answerUnrouted(_ request: HTTPRequest, _ responder: HTTPResponder, path: String, corsAllowed: Bool) {
        var matched: [Int] = []
        forEachMatch(path) { matched.append($0) }
        matched.sort()
        guard let first = matched.first else {
            responder.respond(
                .error(
                    status: 404, message: "Invalid URL (\(request.method) \(path))",
                    code: "not_found", requestID: request.requestID))
            return
        }
        responder.route = routes[first].pattern
        let methods = Self.allowedMethods(matched.map { routes[$0].method })
        if request.method == "OPTIONS" {
            respondToOptions(request, responder, methods: methods, corsAllowed: corsAllowed)
        } else {
            responder.respond(
                .error(
                    status: 405, message: "Method \(request.method) is not allowed for \(path).",
                    code: "method_not_allowed",
                    headers: ["Allow": methods.joined(separator: ", ")], requestID: request.requestID))
        }
    }

    /// `OPTIONS` needs no key: a browser's preflight never carries one.
    private func respondToOptions(
        _ request: HTTPRequest, _ responder: HTTPResponder, methods: [String],
        corsAllowed: Bool
    ) {
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

    /// Whether `path` matches `segments`, walking its bytes without splitting it.
    static func matches(_ segments: [Segment], _ path: String) -> Bool {
        let bytes = path.utf8
        // Like `split`: the part before the first "/" is not a segment.
        guard var cursor = bytes.firstIndex(of: UInt8(ascii: "/")) else { return segments.isEmpty }
        for (position, segment) in segments.enumerated() {
            if position > 0 {
                guard cursor < bytes.endIndex, bytes[cursor] == UInt8(ascii: "/") else { return false }
            }
            let start = bytes.index(after: cursor)
            var end = start
            while end < bytes.endIndex, bytes[end] != UInt8(ascii: "/") { end = bytes.index(after: end) }
            switch segment {
            case .literal(let literal):
                if !bytes[start..<end].elementsEqual(literal.utf8) { return false }
            case .parameter:
                if start == end { return false }
            }
            cursor = end
        }
        return cursor == bytes.endIndex
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
