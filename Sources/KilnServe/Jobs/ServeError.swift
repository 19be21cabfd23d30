/// Errors of the serving layer. Each maps to an HTTP status in the API layer (noted per case).
public enum ServeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The job queue holds `capacity` jobs already (HTTP 429 with `Retry-After: retryAfterSeconds`).
    case queueFull(capacity: Int, retryAfterSeconds: Int)
    /// The scheduler is draining or stopped (HTTP 503).
    case shuttingDown
    /// The job's deadline passed before it finished (HTTP 504 before any token, else an error event).
    case deadlineExceeded
    /// The request can never run, e.g. an empty prompt or `maxNewTokens < 1` (HTTP 400).
    case invalidRequest(String)
    /// Prompt plus `maxNewTokens` need more KV slots than the whole pool has (HTTP 400).
    case exceedsKVCapacity(requiredTokens: Int, capacityTokens: Int)
    /// A scheduler setting is out of range (a configuration error at startup).
    case invalidSettings(String)
    /// The executor failed while running this job's batch (HTTP 500).
    case executorFailed(String)

    public var description: String {
        switch self {
        case let .queueFull(capacity, retryAfter):
            return "the job queue is full (\(capacity) jobs); retry after \(retryAfter) s"
        case .shuttingDown:
            return "the server is shutting down"
        case .deadlineExceeded:
            return "the request's deadline passed before it finished"
        case let .invalidRequest(reason):
            return "invalid request: \(reason)"
        case let .exceedsKVCapacity(required, capacity):
            return "prompt plus max new tokens need \(required) KV slots; the cache holds \(capacity)"
        case let .invalidSettings(reason):
            return "invalid scheduler settings: \(reason)"
        case let .executorFailed(message):
            return "inference failed: \(message)"
        }
    }
}
