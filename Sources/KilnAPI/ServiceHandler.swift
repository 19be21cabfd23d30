import KilnHTTP

/// The HTTP handler of an endpoint over a service that loads after the server starts listening:
/// while `service()` is nil (still loading) it answers 503 with `loadingMessage`; otherwise it
/// runs `handle`, and an `APIError` that escapes answers as itself, anything else as a 500.
func serviceHandler<Service>(
    loadingMessage: String, service: @escaping @Sendable () -> Service?,
    _ handle: @escaping @Sendable (Service, HTTPRequest, HTTPResponder) throws -> Void
) -> HTTPHandler {
    { request, responder in
        guard let service = service() else {
            return responder.respond(APIError.unavailable(loadingMessage))
        }
        do {
            try handle(service, request, responder)
        } catch let error as APIError {
            responder.respond(error)
        } catch {
            responder.respond(APIError.internalError("\(error)"))
        }
    }
}
