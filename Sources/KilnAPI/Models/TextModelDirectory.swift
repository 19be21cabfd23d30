import KilnServe

/// Where the text endpoints find the language model a request names: every model that may serve
/// (loaded or not), and the service of one, once it is in memory.
public protocol TextModelDirectory: Sendable {
    /// The ids of every language model, in listing order; the first is the default.
    var modelIDs: [String] { get }

    /// Calls `body` with the service of `model` (nil: the first) while it is held in memory (it
    /// may first have to load, on another thread), or with the error to answer: 404 for an id not
    /// in ``modelIDs``, 503 when it did not load in time. The model stays loaded until `body`
    /// returns; work submitted inside `body` keeps it loaded until that work ends.
    func withModel(_ model: String?, _ body: @escaping @Sendable (Result<TextGenerationService, APIError>) -> Void)
}

/// Language models loaded on demand under a memory budget (KilnServe's ``ModelResidency``):
/// `service` picks the text service out of what a load built.
// @unchecked Sendable: the residency is thread-safe and `service` only reads a resident.
public final class ResidentTextModels<Resident>: TextModelDirectory, @unchecked Sendable {
    private let residency: ModelResidency<Resident>
    private let service: @Sendable (Resident) -> TextGenerationService
    private let loadTimeout: Duration?

    /// - Parameter loadTimeout: how long a request waits for its model to load (nil: no limit).
    public init(
        residency: ModelResidency<Resident>, loadTimeout: Duration?,
        service: @escaping @Sendable (Resident) -> TextGenerationService
    ) {
        self.residency = residency
        self.loadTimeout = loadTimeout
        self.service = service
    }

    public var modelIDs: [String] { residency.modelIDs }

    public func withModel(_ model: String?, _ body: @escaping @Sendable (Result<TextGenerationService, APIError>) -> Void) {
        let service = self.service
        guard let model = model ?? residency.modelIDs.first else {
            return body(.failure(.unavailable("No language model is configured")))
        }
        residency.acquire(model, timeout: loadTimeout) { result in
            switch result {
            case .success(let lease):
                defer { lease.release() }
                body(.success(service(lease.resident)))
            case .failure(let error):
                body(.failure(APIError(residencyError: error)))
            }
        }
    }
}

/// One language model, always loaded, which gets every request and checks `model` itself.
public struct SingleTextModel: TextModelDirectory {
    public let service: TextGenerationService

    public init(service: TextGenerationService) { self.service = service }

    public var modelIDs: [String] { [service.modelID] }

    public func withModel(_ model: String?, _ body: @escaping @Sendable (Result<TextGenerationService, APIError>) -> Void) {
        body(.success(service))
    }
}

extension APIError {
    /// 404 for a model the server does not serve, naming the ones it does.
    public static func modelNotFound(_ model: String, available: [String]) -> APIError {
        APIError(
            status: 404,
            message: "The model '\(model)' does not exist; available models: \(available.joined(separator: ", "))",
            type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    /// The error of the model residency, with the status the API answers it with: a model that
    /// is still loading when the request's wait ends is a 503 to retry, never a 500.
    public init(residencyError: ResidencyError) {
        switch residencyError {
        case let .unknownModel(model, available):
            self = .modelNotFound(model, available: available)
        case let .timedOut(model):
            self = APIError(
                status: 503, message: "The model '\(model)' is loading; retry shortly", type: "server_error",
                code: "model_loading")
            headers = [("Retry-After", "1")]
        case .shuttingDown:
            self = .unavailable("The server is shutting down")
        case .loadFailed, .duplicateModel, .exceedsBudget, .pinnedExceedBudget, .invalidBudget:
            self = .internalError(residencyError.description)
        }
    }
}
