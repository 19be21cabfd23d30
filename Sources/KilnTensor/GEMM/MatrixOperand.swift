import CKilnKernels

/// How the elements of an image-model tensor are stored: the types a safetensors checkpoint holds
/// weights in. The kernels read each in place and widen to float in registers.
public enum MatrixElementType: Sendable, Equatable {
    case f32, f16, bf16

    /// Bytes per element.
    public var byteCount: Int { self == .f32 ? 4 : 2 }

    /// The GGML type number CKilnKernels takes.
    var kernelType: Int32 {
        switch self {
        case .f32: return Int32(KILN_TYPE_F32)
        case .f16: return Int32(KILN_TYPE_F16)
        case .bf16: return Int32(KILN_TYPE_BF16)
        }
    }
}

/// A read-only matrix for `GEMM`, in place in memory: element (row, column) lies at element
/// index `row · rowStride + column · columnStride` from `base`, stored as `type`. Transposing swaps
/// the strides, so no operand is ever copied to match a layout.
public struct MatrixOperand: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let type: MatrixElementType
    public let rowStride: Int
    public let columnStride: Int

    public init(base: UnsafeRawPointer, type: MatrixElementType, rowStride: Int, columnStride: Int = 1) {
        self.base = base
        self.type = type
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    /// Row-major floats, rows `rowStride` apart.
    public init(_ pointer: UnsafePointer<Float>, rowStride: Int) {
        self.init(base: UnsafeRawPointer(pointer), type: .f32, rowStride: rowStride, columnStride: 1)
    }

    /// The same elements read as the transpose.
    public var transposed: MatrixOperand {
        MatrixOperand(base: base, type: type, rowStride: columnStride, columnStride: rowStride)
    }

    /// The sub-matrix whose element (0, 0) is this one's (row, column).
    public func offset(row: Int, column: Int) -> MatrixOperand {
        MatrixOperand(
            base: base + (row * rowStride + column * columnStride) * type.byteCount, type: type,
            rowStride: rowStride, columnStride: columnStride)
    }

    /// Element (row, column) as a float (for references and tests; slow).
    public func element(row: Int, column: Int) -> Float {
        let index = row * rowStride + column * columnStride
        switch type {
        case .f32: return base.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
        case .f16: return MatrixElements.halfToFloat(base.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
        case .bf16: return Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)) << 16)
        }
    }
}

/// Conversions between stored element types and float.
public enum MatrixElements {
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

    /// `count` elements of `type` from `source` widened into `target`.
    public static func widen(_ source: UnsafeRawPointer, type: MatrixElementType, count: Int, into target: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            for index in 0..<count { target[index] = source.loadUnaligned(fromByteOffset: index * 4, as: Float.self) }
        case .f16:
            for index in 0..<count {
                target[index] = halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
            }
        case .bf16:
            for index in 0..<count {
                target[index] = Float(
                    bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))) << 16)
            }
        }
    }
}
