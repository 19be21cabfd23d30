import KilnFormats
import KilnTensor

/// The tensors of one diffusers component (e.g. `unet/diffusion_pytorch_model.safetensors`),
/// looked up by name with their shapes checked.
public final class WeightStore: @unchecked Sendable {
    public let file: SafetensorsFile
    /// Tried before each name: checkpoints converted by other tools often add one (e.g. `text_model.`).
    private let prefixes: [String]

    public init(path: String, prefixes: [String] = [""]) throws {
        do {
            file = try SafetensorsFile(path: path)
        } catch {
            throw LayerError.invalidWeights("\(path): \(error)")
        }
        self.prefixes = prefixes
    }

    public func contains(_ name: String) -> Bool { info(name) != nil }

    /// The shape stored for `name`, or nil if there is no such tensor.
    public func shape(of name: String) -> [Int]? { info(name)?.shape }

    /// The tensor `name` in place in the file, in its stored type (F32, F16 or BF16); its shape must
    /// equal `shape` when given.
    public func weight(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
        let info = try checked(name, shape: expected)
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress else { throw LayerError.invalidWeights("tensor '\(name)' is empty") }
        switch info.dtype {
        case .f32 where Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0:
            return Weight(shape: info.shape, mapped: base, type: .f32, file: file)
        case .f32:
            return try floats(name, shape: expected)
        case .f16:
            return Weight(shape: info.shape, mapped: base, type: .f16, file: file)
        case .bf16:
            return Weight(shape: info.shape, mapped: base, type: .bf16, file: file)
        default:
            throw LayerError.invalidWeights("tensor '\(name)' has dtype \(info.dtype.rawValue); F32, F16 or BF16 needed")
        }
    }

    /// The tensor `name` as float32 (widened into memory of its own unless it is aligned F32 in the
    /// file): for the small vectors read element by element outside the matrix kernels.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
        let info = try checked(name, shape: expected)
        let type: MatrixElementType
        switch info.dtype {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        default: throw LayerError.invalidWeights("tensor '\(name)' has dtype \(info.dtype.rawValue); F32, F16 or BF16 needed")
        }
        let bytes = file.data(of: info)
        if type == .f32, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            return Weight(shape: info.shape, mapped: base, type: .f32, file: file)
        }
        let count = info.elementCount
        let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        if let base = bytes.baseAddress { MatrixElements.widen(base, type: type, count: count, into: values) }
        return Weight(shape: info.shape, values: values)
    }

    private func checked(_ name: String, shape expected: [Int]?) throws -> SafetensorsTensorInfo {
        guard let info = info(name) else { throw LayerError.invalidWeights("tensor '\(name)' is missing") }
        if let expected, expected != info.shape {
            throw LayerError.invalidWeights("tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        return info
    }

    private func info(_ name: String) -> SafetensorsTensorInfo? {
        for prefix in prefixes {
            if let found = file.tensor(named: prefix + name) { return found }
        }
        return nil
    }
}
