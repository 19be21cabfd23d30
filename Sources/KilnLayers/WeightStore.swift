import KilnFormats
import KilnTensor

/// The tensors of one model file, looked up by name with their shapes checked: a safetensors file
/// (a diffusers component such as `unet/diffusion_pytorch_model.safetensors`, a Hugging Face
/// model's `model.safetensors`) or a GGUF file. Shapes are in PyTorch order either way (a GGUF
/// lists its dimensions innermost first; the store turns them round).
public final class WeightStore: @unchecked Sendable {
    /// The safetensors file the store reads, if it reads one.
    public let safetensors: SafetensorsFile?
    /// The GGUF file the store reads, if it reads one.
    public let gguf: GGUFFile?
    /// Tried before each name: checkpoints converted by other tools often add one (e.g. `text_model.`).
    private let prefixes: [String]

    /// One tensor as either file describes it.
    private struct Entry {
        var shape: [Int]
        /// nil: a type the kernels cannot read in place (quantized, integer).
        var type: MatrixElementType?
        var typeName: String
        var bytes: UnsafeRawBufferPointer
        var elementCount: Int
    }

    public init(path: String, prefixes: [String] = [""]) throws {
        do {
            safetensors = try SafetensorsFile(path: path)
        } catch {
            throw LayerError.invalidWeights("\(path): \(error)")
        }
        gguf = nil
        self.prefixes = prefixes
    }

    /// The tensors of an open GGUF file (F32, F16 and BF16 ones can be read).
    public init(gguf file: GGUFFile, prefixes: [String] = [""]) {
        safetensors = nil
        gguf = file
        self.prefixes = prefixes
    }

    public func contains(_ name: String) -> Bool { entry(name) != nil }

    /// The shape stored for `name`, or nil if there is no such tensor.
    public func shape(of name: String) -> [Int]? { entry(name)?.shape }

    /// The tensor `name` in place in the file, in its stored type (F32, F16 or BF16); its shape must
    /// equal `shape` when given.
    public func weight(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
        let entry = try checked(name, shape: expected)
        guard let base = entry.bytes.baseAddress else { throw LayerError.invalidWeights("tensor '\(name)' is empty") }
        guard let type = entry.type else {
            throw LayerError.invalidWeights("tensor '\(name)' has dtype \(entry.typeName); F32, F16 or BF16 needed")
        }
        if type == .f32 && Int(bitPattern: base) % MemoryLayout<Float>.alignment != 0 {
            return try floats(name, shape: expected)
        }
        return mapped(entry, base: base, type: type)
    }

    /// The tensor `name` as float32 (widened into memory of its own unless it is aligned F32 in the
    /// file): for the small vectors read element by element outside the matrix kernels.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
        let entry = try checked(name, shape: expected)
        guard let type = entry.type else {
            throw LayerError.invalidWeights("tensor '\(name)' has dtype \(entry.typeName); F32, F16 or BF16 needed")
        }
        if type == .f32, let base = entry.bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            return mapped(entry, base: base, type: .f32)
        }
        let count = entry.elementCount
        let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        if let base = entry.bytes.baseAddress { MatrixElements.widen(base, type: type, count: count, into: values) }
        return Weight(shape: entry.shape, values: values)
    }

    private func mapped(_ entry: Entry, base: UnsafeRawPointer, type: MatrixElementType) -> Weight {
        if let gguf { return Weight(shape: entry.shape, mapped: base, type: type, file: gguf) }
        return Weight(shape: entry.shape, mapped: base, type: type, file: safetensors!)
    }

    private func checked(_ name: String, shape expected: [Int]?) throws -> Entry {
        guard let entry = entry(name) else { throw LayerError.invalidWeights("tensor '\(name)' is missing") }
        if let expected, expected != entry.shape {
            throw LayerError.invalidWeights("tensor '\(name)' has shape \(entry.shape), expected \(expected)")
        }
        return entry
    }

    private func entry(_ name: String) -> Entry? {
        for prefix in prefixes {
            if let safetensors, let info = safetensors.tensor(named: prefix + name) {
                let type: MatrixElementType?
                switch info.dtype {
                case .f32: type = .f32
                case .f16: type = .f16
                case .bf16: type = .bf16
                default: type = nil
                }
                return Entry(
                    shape: info.shape, type: type, typeName: info.dtype.rawValue, bytes: safetensors.data(of: info),
                    elementCount: info.elementCount)
            }
            if let gguf, let info = gguf.tensor(named: prefix + name) {
                let type: MatrixElementType?
                switch info.type {
                case .f32: type = .f32
                case .f16: type = .f16
                case .bf16: type = .bf16
                default: type = nil
                }
                return Entry(
                    shape: info.dimensions.reversed(), type: type, typeName: info.type.description, bytes: gguf.data(of: info),
                    elementCount: info.elementCount)
            }
        }
        return nil
    }
}
