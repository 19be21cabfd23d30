/// The hash that names a full KV block in the prefix cache.
///
/// A block's hash covers its own tokens and the hash of the block before it (its parent), so
/// equal hashes mean, with high probability, an equal token prefix from position 0. The cache
/// never trusts the hash alone: a lookup also compares the block's tokens and its parent's
/// identity (see `KVBlockPool`), so a collision only costs a cache miss.
public struct BlockHashFunction: Sendable {
    /// `(parentHash, blockTokens) -> blockHash`. `parentHash` is `rootHash` for the first block.
    public let hash: @Sendable (_ parentHash: UInt64, _ tokens: ArraySlice<TokenID>) -> UInt64
    /// The parent hash of a sequence's first block.
    public let rootHash: UInt64

    public init(
        rootHash: UInt64 = 0,
        hash: @escaping @Sendable (_ parentHash: UInt64, _ tokens: ArraySlice<TokenID>) -> UInt64
    ) {
        self.rootHash = rootHash
        self.hash = hash
    }

    /// 64-bit FNV-1a over the parent hash (8 bytes, little-endian) followed by each token
    /// (4 bytes, little-endian, two's complement). Stable across runs, platforms and processes.
    public static let fnv1a = BlockHashFunction { parentHash, tokens in
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ byte: UInt64) {
            state ^= byte
            state &*= 0x0000_0100_0000_01b3
        }
        for shift in stride(from: 0, to: 64, by: 8) {
            mix((parentHash >> UInt64(shift)) & 0xff)
        }
        for token in tokens {
            let bits = UInt64(UInt32(bitPattern: token))
            mix(bits & 0xff)
            mix((bits >> 8) & 0xff)
            mix((bits >> 16) & 0xff)
            mix((bits >> 24) & 0xff)
        }
        return state
    }
}
