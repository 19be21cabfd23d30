import KilnTensor

/// How a KV cache stores each key and value element (`.f16` halves or `.f32` floats); the
/// kernels' type, named here so that users of KilnText need not import KilnTensor.
public typealias KVCacheElementType = KVElementType

/// The keys and values of every layer for every sequence, in fixed-size blocks taken from one
/// pool allocated once. A sequence addresses its tokens through a block table: position p lives
/// in block `table[p / blockSize]`, slot `p % blockSize`. Which blocks belong to whom (free
/// lists, reference counts, prefix hashes) is the scheduler's business; the cache only stores.
///
/// Layout, per layer, per block, per KV head: `[slot][headDimension]` elements for keys and the
/// same for values, so one head's positions within a block are evenly spaced for the attention
/// kernel. Elements are IEEE halves by default (as llama.cpp's cache: half the memory and
/// bandwidth) or 32-bit floats. Memory is reserved at creation but pages are only touched as
/// blocks are first written; the attention never reads a slot that was not written.
public final class PagedKVCache: @unchecked Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks in the pool; valid block ids are `0 ..< blockCount`.
    public let blockCount: Int
    /// Transformer layers (each has its own keys and values).
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDimension: Int
    /// How each key and value element is stored.
    public let elementType: KVElementType
    /// Bytes of keys (or of values) in one block of one layer.
    let blockStride: Int
    /// Bytes of keys (or of values) in one layer.
    let layerStride: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer

    /// The largest pool accepted, so that a bad setting fails clearly instead of exhausting memory.
    public static let maximumByteCount = 1 << 40

    /// Reserves `blockCount` blocks of `blockSize` tokens for a model with `configuration`.
    public init(
        configuration: TransformerConfiguration, blockCount: Int, blockSize: Int = 16,
        elementType: KVElementType = .f16
    ) throws {
        guard blockSize > 0, blockSize <= 4096 else {
            throw ModelError.invalidSetting(name: "kv_block_size", reason: "\(blockSize) is not in 1…4096")
        }
        guard blockCount > 0, blockCount <= Int(Int32.max) else {
            throw ModelError.invalidSetting(name: "kv_blocks", reason: "\(blockCount) must be positive")
        }
        let perBlock = Self.bytesPerBlock(configuration: configuration, blockSize: blockSize, elementType: elementType)
        let (total, overflow) = perBlock.multipliedReportingOverflow(by: blockCount)
        guard !overflow, total <= Self.maximumByteCount else {
            throw ModelError.invalidSetting(
                name: "kv_blocks",
                reason: "\(blockCount) blocks of \(perBlock) bytes exceed \(Self.maximumByteCount) bytes")
        }
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.elementType = elementType
        layerCount = configuration.blockCount
        kvHeadCount = configuration.kvHeadCount
        headDimension = configuration.headDimension
        blockStride = kvHeadCount * blockSize * headDimension * elementType.byteCount
        layerStride = blockStride * blockCount
        keys = .allocate(byteCount: max(layerStride * layerCount, 1), alignment: 64)
        values = .allocate(byteCount: max(layerStride * layerCount, 1), alignment: 64)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes that one block takes over all layers (keys and values).
    public static func bytesPerBlock(
        configuration: TransformerConfiguration, blockSize: Int,
        elementType: KVElementType = .f16
    ) -> Int {
        2 * configuration.blockCount * configuration.keyValueWidth * blockSize * elementType.byteCount
    }

    /// Bytes the whole pool reserves.
    public var byteCount: Int { 2 * layerStride * layerCount }

    /// Tokens the whole pool can hold.
    public var tokenCapacity: Int { blockCount * blockSize }

    /// Copies every layer's keys and values of block `source` into block `destination`, for
    /// copy-on-write when a shared (prefix-cached) block must diverge.
    public func copyBlock(_ source: Int32, to destination: Int32) throws {
        for block in [source, destination] where block < 0 || Int(block) >= blockCount {
            throw ModelError.invalidBatch("block id \(block) is outside the pool (0..<\(blockCount))")
        }
        guard source != destination else { return }
        for layer in 0..<layerCount {
            let from = layer * layerStride + Int(source) * blockStride
            let to = layer * layerStride + Int(destination) * blockStride
            (keys + to).copyMemory(from: keys + from, byteCount: blockStride)
            (values + to).copyMemory(from: values + from, byteCount: blockStride)
        }
    }

    /// The keys of `kvHead` in `block` of `layer`: `[blockSize × headDimension]` elements.
    @inline(__always)
    func keys(layer: Int, block: Int, kvHead: Int) -> UnsafeMutableRawPointer {
        keys + layer * layerStride + block * blockStride + kvHead * blockSize * headDimension * elementType.byteCount
    }

    /// As `keys(layer:block:kvHead:)` for the values.
    @inline(__always)
    func values(layer: Int, block: Int, kvHead: Int) -> UnsafeMutableRawPointer {
        values + layer * layerStride + block * blockStride + kvHead * blockSize * headDimension * elementType.byteCount
    }

    /// Stores one token's key or value vector of one head at `slot` (converting to halves when
    /// the cache holds halves).
    @inline(__always)
    func store(_ vector: UnsafePointer<Float>, at base: UnsafeMutableRawPointer, slot: Int) {
        switch elementType {
        case .f32:
            (base.assumingMemoryBound(to: Float.self) + slot * headDimension).update(from: vector, count: headDimension)
        case .f16:
            Elementwise.convertToHalf(
                vector, count: headDimension,
                into: base.assumingMemoryBound(to: UInt16.self) + slot * headDimension)
        }
    }
}
