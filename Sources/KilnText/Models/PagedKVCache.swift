/// The keys and values of every layer for every sequence, in fixed-size blocks taken from one
/// pool allocated once. A sequence addresses its tokens through a block table: position p lives
/// in block `table[p / blockSize]`, slot `p % blockSize`. Which blocks belong to whom (free
/// lists, reference counts, prefix hashes) is the scheduler's business; the cache only stores.
///
/// Layout, per layer, per block and KV head: keys transposed, `[headDimension][slot]`, so that
/// the attention computes the scores of a block's 16 slots with vertical SIMD arithmetic; values
/// `[slot][headDimension]`, so that it adds whole weighted rows. Memory is reserved at creation
/// but pages are only touched as blocks are first written; slots not yet written may hold any
/// bits, and the attention never reads them.
public final class PagedKVCache: @unchecked Sendable {
    /// Tokens per block.
    public let blockSize: Int
    /// Blocks in the pool; valid block ids are `0 ..< blockCount`.
    public let blockCount: Int
    /// Transformer layers (each has its own keys and values).
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDimension: Int
    /// Floats of keys (or of values) in one block of one layer.
    let blockStride: Int
    /// Floats of keys (or of values) in one layer.
    let layerStride: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>

    /// Block sizes are multiples of this many slots, the width of the attention's score vectors.
    public static let slotGroup = 16

    /// The largest pool accepted, so that a bad setting fails clearly instead of exhausting memory.
    public static let maximumByteCount = 1 << 40

    /// Reserves `blockCount` blocks of `blockSize` tokens for a model with `configuration`.
    public init(configuration: TransformerConfiguration, blockCount: Int, blockSize: Int = 16) throws {
        guard blockSize > 0, blockSize <= 1024, blockSize % Self.slotGroup == 0 else {
            throw ModelError.invalidSetting(name: "kv_block_size",
                                            reason: "\(blockSize) must be a multiple of \(Self.slotGroup) in 16…1024")
        }
        guard blockCount > 0, blockCount <= Int(Int32.max) else {
            throw ModelError.invalidSetting(name: "kv_blocks", reason: "\(blockCount) must be positive")
        }
        let perBlock = Self.bytesPerBlock(configuration: configuration, blockSize: blockSize)
        let (total, overflow) = perBlock.multipliedReportingOverflow(by: blockCount)
        guard !overflow, total <= Self.maximumByteCount else {
            throw ModelError.invalidSetting(name: "kv_blocks",
                                            reason: "\(blockCount) blocks of \(perBlock) bytes exceed \(Self.maximumByteCount) bytes")
        }
        self.blockSize = blockSize
        self.blockCount = blockCount
        layerCount = configuration.blockCount
        kvHeadCount = configuration.kvHeadCount
        headDimension = configuration.headDimension
        blockStride = kvHeadCount * blockSize * headDimension
        layerStride = blockStride * blockCount
        keys = .allocate(capacity: layerStride * layerCount)
        values = .allocate(capacity: layerStride * layerCount)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes that one block takes over all layers (keys and values, 32-bit floats).
    public static func bytesPerBlock(configuration: TransformerConfiguration, blockSize: Int) -> Int {
        2 * configuration.blockCount * configuration.keyValueWidth * blockSize * MemoryLayout<Float>.stride
    }

    /// Bytes the whole pool reserves.
    public var byteCount: Int { 2 * layerStride * layerCount * MemoryLayout<Float>.stride }

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
            (keys + to).update(from: keys + from, count: blockStride)
            (values + to).update(from: values + from, count: blockStride)
        }
    }

    /// The keys of `kvHead` in `block` of `layer`, transposed: `[headDimension × blockSize]`.
    @inline(__always)
    func keys(layer: Int, block: Int, kvHead: Int) -> UnsafeMutablePointer<Float> {
        keys + layer * layerStride + block * blockStride + kvHead * blockSize * headDimension
    }

    /// The values of `kvHead` in `block` of `layer`: `[blockSize × headDimension]`.
    @inline(__always)
    func values(layer: Int, block: Int, kvHead: Int) -> UnsafeMutablePointer<Float> {
        values + layer * layerStride + block * blockStride + kvHead * blockSize * headDimension
    }
}
