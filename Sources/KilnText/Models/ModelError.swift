/// Why a model could not be loaded or a forward pass could not run. Every case is raised before
/// any memory is written, so a failed call leaves the model and its KV cache untouched.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// `general.architecture` names an architecture Kiln has no forward pass for.
    case unsupportedArchitecture(String)
    /// A required metadata key is absent or of the wrong type.
    case missingMetadata(key: String)
    /// A metadata value is present but unusable (zero heads, heads that do not divide the width, …).
    case invalidMetadata(key: String, reason: String)
    /// A required tensor is absent.
    case missingTensor(name: String)
    /// A tensor's shape (GGML order: innermost first) is not what the hyperparameters imply.
    case tensorShapeMismatch(name: String, expected: [Int], actual: [Int])
    /// A tensor is stored in a type the kernels cannot use.
    case unsupportedTensorType(name: String, type: String)
    /// A sequence would reach past the model's (or the configured) context length.
    case contextLengthExceeded(position: Int, limit: Int)
    /// A token id is outside the vocabulary.
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    /// A batch is malformed or larger than the buffers the model was prepared for.
    case invalidBatch(String)
    /// A setting (cache size, batch size, thread count) is out of range.
    case invalidSetting(name: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            return "unsupported model architecture '\(name)' (supported: \(ModelArchitecture.supportedNames.joined(separator: ", ")))"
        case .missingMetadata(let key): return "model metadata lacks '\(key)'"
        case .invalidMetadata(let key, let reason): return "model metadata '\(key)' is invalid: \(reason)"
        case .missingTensor(let name): return "model has no tensor '\(name)'"
        case .tensorShapeMismatch(let name, let expected, let actual):
            return "tensor '\(name)' has shape \(actual), expected \(expected)"
        case .unsupportedTensorType(let name, let type): return "tensor '\(name)' has unsupported type \(type)"
        case .contextLengthExceeded(let position, let limit):
            return "context length exceeded: position \(position) is past the limit of \(limit) tokens"
        case .tokenOutOfRange(let token, let vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .invalidBatch(let reason): return "invalid batch: \(reason)"
        case .invalidSetting(let name, let reason): return "invalid setting \(name): \(reason)"
        }
    }
}
