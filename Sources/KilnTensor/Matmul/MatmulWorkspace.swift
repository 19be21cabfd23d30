import CKilnKernels

/// Scratch memory for `Matmul`, allocated once and reused: the activation rows quantized to 8-bit
/// blocks, four rows side by side (`kiln_q8x4_block`: per 32 inputs of 4 rows, 4 `Float` scales,
/// 4 `Float` scaled sums and 4 × 32 `Int8`; 40 bytes per row and block), and, for K-quant weights,
/// the same rows as llama.cpp's Q8_K blocks (`kiln_q8k_block`: 256 activations of one row in 292
/// bytes).
///
/// Make one per engine loop with the largest batch and width the model will use, and pass it to
/// every call. A call that needs more than the capacity grows the buffer once (an allocation outside
/// the steady state), so sizing it up front keeps the hot loop allocation-free.
/// Not thread-safe: one workspace per concurrent caller.
public final class MatmulWorkspace: @unchecked Sendable {
    /// Bytes of one block of 32 activations of 4 rows.
    static let groupBlockBytes = 160

    /// Rows the buffer holds without growing.
    public private(set) var batchCapacity: Int
    /// Row width (columns) the buffer holds without growing.
    public private(set) var columnCapacity: Int
    /// `[⌈batchCapacity / 4⌉ × columnCapacity / 32]` four-row blocks, 64-byte aligned.
    private(set) var quantized: UnsafeMutableRawPointer
    /// `[batchCapacity × columnCapacity / 256]` Q8_K blocks (a row's blocks consecutive).
    private(set) var quantizedK: UnsafeMutableRawPointer
    /// Bytes of one Q8_K block.
    static let kBlockBytes = MemoryLayout<kiln_q8k_block>.stride

    /// - Parameters:
    ///   - maxBatch: activation rows per call (prefill chunk or decode batch), at least 1.
    ///   - maxColumns: widest weight matrix input (e.g. the feed-forward width), at least 32.
    public init(maxBatch: Int = 1, maxColumns: Int = 4096) {
        batchCapacity = max(maxBatch, 1)
        columnCapacity = Self.roundUp(max(maxColumns, 32))
        quantized = Self.allocate(batch: batchCapacity, columns: columnCapacity)
        quantizedK = Self.allocateK(batch: batchCapacity, columns: columnCapacity)
    }

    deinit {
        quantized.deallocate()
        quantizedK.deallocate()
    }

    /// Ensures room for `[batch × columns]` activations, growing (once) if needed.
    public func reserve(batch: Int, columns: Int) {
        guard batch > batchCapacity || columns > columnCapacity else { return }
        quantized.deallocate()
        quantizedK.deallocate()
        batchCapacity = max(batch, batchCapacity)
        columnCapacity = max(Self.roundUp(columns), columnCapacity)
        quantized = Self.allocate(batch: batchCapacity, columns: columnCapacity)
        quantizedK = Self.allocateK(batch: batchCapacity, columns: columnCapacity)
    }

    /// Bytes between groups of four quantized rows of `columns` inputs.
    static func groupBytes(columns: Int) -> Int { (columns + 31) / 32 * groupBlockBytes }

    private static func roundUp(_ columns: Int) -> Int { (columns + 31) / 32 * 32 }

    /// Left uninitialized: every block a product reads is written by the quantization before it.
    private static func allocateK(batch: Int, columns: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, batch * (columns / 256) * kBlockBytes), alignment: 64)
    }

    private static func allocate(batch: Int, columns: Int) -> UnsafeMutableRawPointer {
        let bytes = (batch + 3) / 4 * groupBytes(columns: columns)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return memory
    }
}
