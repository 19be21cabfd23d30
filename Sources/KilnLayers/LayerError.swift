/// Why a model's weights or config files cannot be used. Raised while a model loads; the engine
/// that loads it decides how to report it.
public enum LayerError: Error, Equatable, CustomStringConvertible {
    /// A file of the model's folder is missing or unreadable.
    case missingFile(String)
    /// A config.json is malformed or names something unsupported.
    case invalidConfig(String)
    /// A weight is missing, or has a shape or dtype other than the architecture needs.
    case invalidWeights(String)

    public var description: String {
        switch self {
        case .missingFile(let text): return "missing file: \(text)"
        case .invalidConfig(let text): return "invalid config: \(text)"
        case .invalidWeights(let text): return "invalid weights: \(text)"
        }
    }
}
