import KilnFormats
import KilnTensor

/// One weight tensor for the kernels, in the type it is stored in. Matrices are read in place in
/// the memory-mapped file whatever their type (the kernels widen f16 and bf16 in registers), so a
/// pipeline's memory is its files' size plus working buffers. Vectors asked for as floats (biases,
/// normalization parameters: a few KB each) are widened once at load. A mapped weight keeps its
/// file (a `SafetensorsFile` or a `GGUFFile`) open while it lives.
public final class Weight: @unchecked Sendable {
    /// Row-major shape, PyTorch order.
    public let shape: [Int]
    /// How the elements are stored.
    public let elementType: MatrixElementType
    /// The first element.
    public let base: UnsafeRawPointer
    public var count: Int { shape.reduce(1, *) }
    private let owned: UnsafeMutablePointer<Float>?
    /// The mapped file `base` points into, kept open.
    private let file: AnyObject?

    public init(shape: [Int], mapped base: UnsafeRawPointer, type: MatrixElementType, file: SafetensorsFile) {
        self.shape = shape
        self.base = base
        self.elementType = type
        self.owned = nil
        self.file = file
    }

    public init(shape: [Int], mapped base: UnsafeRawPointer, type: MatrixElementType, file: GGUFFile) {
        self.shape = shape
        self.base = base
        self.elementType = type
        self.owned = nil
        self.file = file
    }

    public init(shape: [Int], values: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.base = UnsafeRawPointer(values)
        self.elementType = .f32
        self.owned = values
        self.file = nil
    }

    deinit { owned?.deallocate() }

    /// The elements as floats; only for float32 weights (`WeightStore.floats` gives those).
    public var pointer: UnsafePointer<Float> {
        precondition(elementType == .f32, "weight is stored as \(elementType); load it with WeightStore.floats")
        return base.assumingMemoryBound(to: Float.self)
    }

    /// The tensor as a matrix of `shape[0]` rows of the remaining elements.
    public var matrix: MatrixOperand {
        MatrixOperand(base: base, type: elementType, rowStride: shape.dropFirst().reduce(1, *), columnStride: 1)
    }

    /// Element `index` (row-major) as a float.
    public func value(at index: Int) -> Float {
        MatrixOperand(base: base, type: elementType, rowStride: 0, columnStride: 1).element(row: 0, column: index)
    }

    /// All elements as floats (a copy).
    public func floats() -> [Float] {
        .filled(count) { MatrixElements.widen(base, type: elementType, count: count, into: $0) }
    }
}
