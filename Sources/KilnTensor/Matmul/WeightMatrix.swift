import KilnFormats

/// A read-only view of a 2-D weight matrix in GGML layout, usually pointing into a memory-mapped GGUF
/// file. No bytes are copied.
///
/// Shape: `[rows × columns]`, row-major. GGML names the row length `ne[0]` (GGUF `dimensions[0]`) and
/// the row count `ne[1]` (`dimensions[1]`). Each row holds `columns` elements packed as
/// `columns / type.blockSize` consecutive blocks of `type.typeSize` bytes, and rows follow each other
/// with no padding, so row `r` starts `r * rowByteCount` bytes after `data`.
///
/// In a matmul the matrix maps a `columns`-wide activation to a `rows`-wide one (`y = W · x`); as an
/// embedding table each row is one token's vector (`rows` = vocabulary, `columns` = width).
public struct WeightMatrix: @unchecked Sendable {
    /// Element type of the stored blocks.
    public let type: GGMLType
    /// Number of rows (output features; vocabulary size for an embedding table).
    public let rows: Int
    /// Elements per row (input features; model width for an embedding table).
    public let columns: Int
    /// First byte of row 0. Not aligned in general; kernels use unaligned loads.
    public let data: UnsafeRawPointer
    /// Bytes per row: `columns / type.blockSize * type.typeSize`.
    public let rowByteCount: Int

    /// Makes a view over `bytes`, checking that the shape is sane, rows are whole blocks and the
    /// bytes are enough. Extra trailing bytes are allowed (ignored).
    ///
    /// - Throws: `TensorError` when the type has no kernels, the shape is invalid or overflows, a row
    ///   is not a whole number of blocks, or `bytes` is too short.
    public init(type: GGMLType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer) throws {
        guard Dequantization.isSupported(type) else { throw TensorError.unsupportedType(type) }
        guard rows > 0, columns > 0 else {
            throw TensorError.invalidShape("\(rows) rows × \(columns) columns must both be positive")
        }
        guard columns % type.blockSize == 0 else {
            throw TensorError.rowNotBlockAligned(type: type, columns: columns)
        }
        let (rowBytes, rowOverflow) = (columns / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
        let (totalBytes, totalOverflow) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !rowOverflow, !totalOverflow else {
            throw TensorError.invalidShape("\(rows) rows × \(columns) columns of \(type) overflows")
        }
        guard let base = bytes.baseAddress, bytes.count >= totalBytes else {
            throw TensorError.dataTooShort(needed: totalBytes, available: bytes.count)
        }
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = base
        self.rowByteCount = rowBytes
    }

    /// A view of a 2-D tensor of a GGUF file (`dimensions` = `[columns, rows]`, extra trailing
    /// dimensions of 1 allowed), pointing into the file's map.
    ///
    /// - Throws: `TensorError.invalidShape` for a tensor that is not 2-D, and the errors of
    ///   `init(type:rows:columns:bytes:)`.
    public init(_ tensor: GGUFTensorInfo, in file: GGUFFile) throws {
        let dimensions = tensor.dimensions
        guard dimensions.count >= 1, dimensions.dropFirst(2).allSatisfy({ $0 == 1 }) else {
            throw TensorError.invalidShape("tensor \(tensor.name) has dimensions \(dimensions), not a matrix")
        }
        let rows = dimensions.count >= 2 ? dimensions[1] : 1
        try self.init(type: tensor.type, rows: rows, columns: dimensions[0], bytes: file.data(of: tensor))
    }

    private init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer, rowByteCount: Int) {
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
        self.rowByteCount = rowByteCount
    }

    /// Rows `range` as a matrix of their own, a view of the same bytes: the parts of a fused
    /// tensor (Phi-3's `attn_qkv`, its gate and up halves of `ffn_up`).
    public func rows(_ range: Range<Int>) -> WeightMatrix {
        precondition(!range.isEmpty && range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of \(rows)")
        return WeightMatrix(
            type: type, rows: range.count, columns: columns, data: data + range.lowerBound * rowByteCount,
            rowByteCount: rowByteCount)
    }

    /// Total bytes the matrix spans: `rows * rowByteCount`.
    public var byteCount: Int { rows * rowByteCount }

    /// First byte of row `index` (`0 ..< rows`, unchecked).
    @inline(__always)
    public func row(_ index: Int) -> UnsafeRawPointer { data + index * rowByteCount }

    /// Embedding lookup: dequantizes row `index` into `destination` (`[columns]` floats), bit for bit
    /// as `Dequantization.dequantize` does.
    ///
    /// - Throws: `TensorError.rowOutOfRange` when `index` is not in `0 ..< rows` (token ids may come
    ///   from untrusted input).
    public func dequantizeRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) throws {
        guard index >= 0, index < rows else { throw TensorError.rowOutOfRange(row: index, rows: rows) }
        Dequantization.dequantize(type, from: row(index), count: columns, into: destination)
    }
}
