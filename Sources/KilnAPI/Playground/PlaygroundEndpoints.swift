import KilnHTTP

/// The browser playground: `GET /` (the page) and `GET /playground/{file}` (its scripts, style
/// sheet and icon), all built into the binary.
///
/// The files need no API key, so the page can load and ask for one; every API call it makes
/// carries the key the user typed. Each answer forbids what the page never does: scripts and
/// styles come from this origin only (no inline script, no `eval`), images also from `data:` and
/// `blob:` URLs (the generated pictures), and nothing may frame it.
public enum PlaygroundEndpoints {
    /// The Content-Security-Policy of every playground file.
    public static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    public static func register(on router: Router) {
        let files = PlaygroundFiles.shared
        router.get("/", access: .public) { request, responder in
            responder.respond(response(for: files.index, request: request))
        }
        router.get("/playground/{file}", access: .public) { request, responder in
            // Only names in the table are served: nothing here reads the file system, so no path
            // (`..`, encoded slashes, …) can reach anything else.
            guard let file = files.assets[request.pathParameters["file"] ?? ""] else {
                return responder.respond(
                    .error(status: 404, message: "Invalid URL (\(request.method) \(request.path))", code: "not_found"))
            }
            responder.respond(response(for: file, request: request))
        }
    }

    /// The file, or 304 when the client's `If-None-Match` names its validator.
    static func response(for file: PlaygroundFiles.File, request: HTTPRequest) -> HTTPResponse {
        var headers: HTTPHeaders = [
            "ETag": file.etag,
            // Revalidated on every load: the URLs carry no version, and a new binary may bring new files.
            "Cache-Control": "no-cache",
            "Content-Security-Policy": contentSecurityPolicy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        ]
        if matches(ifNoneMatch: request.headers.listElements(for: "If-None-Match"), etag: file.etag) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.add(name: "Content-Type", value: file.contentType)
        return HTTPResponse(status: 200, headers: headers, body: file.body)
    }

    /// RFC 9110's weak comparison: `*`, or any listed tag equal to `etag` once `W/` is dropped.
    /// `elements` arrive lowercased; the tags are lowercase hex.
    static func matches(ifNoneMatch elements: [String], etag: String) -> Bool {
        let opaque = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        return elements.contains { element in
            element == "*" || (element.hasPrefix("w/") ? String(element.dropFirst(2)) : element) == opaque
        }
    }
}
