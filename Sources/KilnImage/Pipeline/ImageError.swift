import KilnLayers

/// What can go wrong loading or running an image pipeline. Every case carries a sentence a person
/// can act on; none of them is a crash.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// A file of the diffusers folder is missing or unreadable.
    case missingFile(String)
    /// A config.json (or tokenizer file) is malformed or names something unsupported.
    case invalidConfig(String)
    /// A weight is missing, or has a shape or dtype other than the architecture needs.
    case invalidWeights(String)
    /// A request asks for something out of range (size, steps, guidance, sampler…).
    case invalidRequest(String)
    /// The caller's progress callback asked to stop.
    case cancelled

    public var description: String {
        switch self {
        case .missingFile(let text): return "missing file: \(text)"
        case .invalidConfig(let text): return "invalid config: \(text)"
        case .invalidWeights(let text): return "invalid weights: \(text)"
        case .invalidRequest(let text): return "invalid request: \(text)"
        case .cancelled: return "cancelled"
        }
    }
}

extension ImageError {
    /// A KilnLayers loading error (config and weight readers) as the image module's same case.
    init(_ error: LayerError) {
        switch error {
        case .missingFile(let text): self = .missingFile(text)
        case .invalidConfig(let text): self = .invalidConfig(text)
        case .invalidWeights(let text): self = .invalidWeights(text)
        }
    }

    /// `body`'s value, with the KilnLayers errors it throws turned into `ImageError`s.
    static func typed<Value>(_ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as LayerError {
            throw ImageError(error)
        }
    }
}
