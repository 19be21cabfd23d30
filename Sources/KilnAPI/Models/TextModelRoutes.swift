import Foundation
import KilnHTTP
import KilnJSON

/// The text endpoints over a ``TextModelDirectory``: each request goes to the language model its
/// `model` member names (`/tokenize`, `/detokenize` and `/apply-template`: the `model` member
/// when several models serve, else the first), which may load first.
///
/// The body is parsed once here, to read `model`, and handed on parsed. With one model, every
/// request goes to it and it judges `model` itself, exactly as a single-model server always has.
enum TextModelRoutes {
    static func register(
        on router: Router, models: @escaping @Sendable () -> TextModelDirectory?,
        otherModels: @escaping @Sendable () -> [String]
    ) {
        let created = Int(Date().timeIntervalSince1970)
        func route(_ body: @escaping @Sendable (TextModelDirectory, HTTPRequest, HTTPResponder) throws -> Void) -> HTTPHandler {
            serviceHandler(loadingMessage: "The model is loading; retry shortly", service: models, body)
        }
        router.get(
            "/v1/models",
            route { directory, _, responder in
                let ids = directory.modelIDs + otherModels()
                let models = ids.map { TextGenerationService.modelObject(id: $0, created: created) }
                responder.respond(.json(JSONValue.object([("object", "list"), ("data", .array(models))]).serialized))
            })
        router.get(
            "/v1/models/{model}",
            route { directory, request, responder in
                let name = request.pathParameters["model"] ?? ""
                let ids = directory.modelIDs + otherModels()
                guard ids.contains(name) else { throw APIError.modelNotFound(name, available: ids) }
                responder.respond(.json(TextGenerationService.modelObject(id: name, created: created).serialized))
            })
        router.post(
            "/v1/chat/completions",
            route { directory, request, responder in
                try dispatch(request, responder, directory) { service, body in try service.startChat(body: body, responder) }
            })
        router.post(
            "/v1/completions",
            route { directory, request, responder in
                try dispatch(request, responder, directory) { service, body in try service.startCompletion(body: body, responder) }
            })
        router.post(
            "/tokenize",
            route { directory, request, responder in
                try dispatch(request, responder, directory, modelOptional: true) { service, body in
                    responder.respond(.json(try service.tokenize(body: body).serialized))
                }
            })
        router.post(
            "/detokenize",
            route { directory, request, responder in
                try dispatch(request, responder, directory, modelOptional: true) { service, body in
                    responder.respond(.json(try service.detokenize(body: body).serialized))
                }
            })
        router.post(
            "/apply-template",
            route { directory, request, responder in
                try dispatch(request, responder, directory, modelOptional: true) { service, body in
                    let fields = try RequestFields(body)
                    let chat = try ChatCompletionRequest(body: .object([("model", .string(service.modelID))] + fields.members))
                    responder.respond(
                        .json(JSONValue.object([("prompt", .string(try service.renderChat(chat.messages, tools: chat.tools)))]).serialized))
                }
            })
    }

    /// Parses the body, finds the model it names and runs `handle` with that model's service,
    /// now or once it has loaded. `modelOptional`: llama.cpp's endpoints, which have no `model`
    /// member; with several models one may be given (and is taken out), else the first serves.
    private static func dispatch(
        _ request: HTTPRequest, _ responder: HTTPResponder, _ directory: TextModelDirectory, modelOptional: Bool = false,
        _ handle: @escaping @Sendable (TextGenerationService, JSONValue) throws -> Void
    ) throws {
        var body = try TextGenerationService.parseBody(request)
        var name: String?
        // One model: every request goes to it, and it reads `model` itself, errors and all, as it
        // always has.
        if directory.modelIDs.count > 1 {
            let fields = try RequestFields(body)
            name = try fields.string("model")
            if modelOptional {
                body = .object(fields.members.filter { $0.0 != "model" })
            } else if name == nil {
                throw APIError.invalid("'model' is required", param: "model")
            }
        }
        let parsed = body
        directory.withModel(name) { result in
            // The client may have gone away while its model loaded: nothing to answer.
            guard !responder.cancellation.isCancelled else { return }
            do {
                try handle(try result.get(), parsed)
            } catch let error as APIError {
                responder.respond(error)
            } catch {
                responder.respond(APIError.internalError("\(error)"))
            }
        }
    }
}
