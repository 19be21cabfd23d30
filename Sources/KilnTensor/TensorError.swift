import KilnFormats

/// Why a tensor view or kernel request was refused. Raised while building views over untrusted
/// GGUF data, before any kernel runs; kernels themselves take already-validated views.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// The element type has no dequantization or matmul kernel in KilnTensor.
    case unsupportedType(GGMLType)
    /// A shape is negative, zero where it must not be, or its byte size overflows `Int`.
    case invalidShape(String)
    /// A row length is not a whole number of the type's blocks.
    case rowNotBlockAligned(type: GGMLType, columns: Int)
    /// The bytes given are fewer than the shape needs.
    case dataTooShort(needed: Int, available: Int)
    /// A row index is outside the matrix.
    case rowOutOfRange(row: Int, rows: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let type):
            return "tensor type \(type) is not supported by KilnTensor"
        case .invalidShape(let detail):
            return "invalid tensor shape: \(detail)"
        case .rowNotBlockAligned(let type, let columns):
            return "row of \(columns) elements is not a multiple of \(type)'s block size \(type.blockSize)"
        case .dataTooShort(let needed, let available):
            return "tensor needs \(needed) bytes but only \(available) are available"
        case .rowOutOfRange(let row, let rows):
            return "row \(row) is outside a matrix of \(rows) rows"
        }
    }
}
