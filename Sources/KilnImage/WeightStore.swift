import KilnFormats

/// One float32 weight tensor ready for the kernels. Stored F32 tensors that are 4-byte aligned are
/// used in place in the memory-mapped file (never copied); F16 and BF16 are widened once at load.
public final class Weight: @unchecked Sendable {
    /// Row-major shape, PyTorch order.
    public let shape: [Int]
    public let pointer: UnsafePointer<Float>
    public var count: Int { shape.reduce(1, *) }
    private let owned: UnsafeMutablePointer<Float>?
    private let file: SafetensorsFile?

    init(shape: [Int], mapped pointer: UnsafePointer<Float>, file: SafetensorsFile) {
        self.shape = shape
        self.pointer = pointer
        self.owned = nil
        self.file = file
    }

    init(shape: [Int], values: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.pointer = UnsafePointer(values)
        self.owned = values
        self.file = nil
    }

    deinit { owned?.deallocate() }
}

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
            throw ImageError.invalidWeights("\(path): \(error)")
        }
        self.prefixes = prefixes
    }

    /// Total bytes of tensor data in the file.
    public var byteCount: Int { file.tensors.reduce(0) { $0 + $1.offsets.count } }

    public func contains(_ name: String) -> Bool { info(name) != nil }

    /// The shape stored for `name`, or nil if there is no such tensor.
    public func shape(of name: String) -> [Int]? { info(name)?.shape }

    /// The tensor `name` as float32; its shape must equal `shape` when given.
    public func weight(_ name: String, shape expected: [Int]? = nil) throws -> Weight {
        guard let info = info(name) else { throw ImageError.invalidWeights("tensor '\(name)' is missing") }
        if let expected, expected != info.shape {
            throw ImageError.invalidWeights("tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        let count = info.elementCount
        let bytes = file.data(of: info)
        switch info.dtype {
        case .f32:
            if let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                return Weight(shape: info.shape, mapped: base.assumingMemoryBound(to: Float.self), file: file)
            }
            let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            for index in 0..<count { values[index] = bytes.loadUnaligned(fromByteOffset: index * 4, as: Float.self) }
            return Weight(shape: info.shape, values: values)
        case .f16:
            let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            for index in 0..<count {
                let bits = bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                values[index] = Self.halfToFloat(UInt16(littleEndian: bits))
            }
            return Weight(shape: info.shape, values: values)
        case .bf16:
            let values = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            for index in 0..<count {
                let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                values[index] = Float(bitPattern: UInt32(bits) << 16)
            }
            return Weight(shape: info.shape, values: values)
        default:
            throw ImageError.invalidWeights("tensor '\(name)' has dtype \(info.dtype.rawValue); F32, F16 or BF16 needed")
        }
    }

    /// IEEE binary16 → binary32, exact (subnormals, infinities and NaN included), without relying
    /// on a platform `Float16` type.
    public static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }

    private func info(_ name: String) -> SafetensorsTensorInfo? {
        for prefix in prefixes {
            if let found = file.tensor(named: prefix + name) { return found }
        }
        return nil
    }
}
