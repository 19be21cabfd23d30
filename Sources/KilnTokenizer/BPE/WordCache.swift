#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Remembers the token ids of words already merged during one `encode` call.
///
/// Natural text repeats its words, so most words skip the merge loop. The cache is
/// direct-mapped with everything inline: one 64-byte slot per word holds its hash, its bytes
/// (up to 16) and its ids (up to 8), so a lookup touches one cache line; a newer word simply
/// replaces an older one in its slot. Each `encode` call owns its cache, so nothing is shared or
/// locked between threads.
final class WordCache {
    static let maxWordBytes = 16
    static let maxTokens = 8
    private static let slotBytes = 64

    private let slots: UnsafeMutableRawPointer
    private let mask: Int

    /// A cache of `slotCount` slots (rounded up to a power of two).
    init(slotCount: Int) {
        var count = 16
        while count < slotCount { count <<= 1 }
        mask = count - 1
        // calloc: zero means empty, and the kernel zeroes untouched pages lazily.
        slots = calloc(count, Self.slotBytes)!
    }

    deinit { free(slots) }

    @inline(__always)
    private func slot(for word: UnsafeRawBufferPointer) -> (UnsafeMutableRawPointer, UInt64) {
        let hash = ByteStringTable.hash(word) | 1
        return (slots + (Int(truncatingIfNeeded: hash) & mask) * Self.slotBytes, hash)
    }

    /// Appends the cached ids of `word` to `output` and returns true, or returns false.
    @inline(__always)
    func append(_ word: UnsafeRawBufferPointer, to output: inout [Int32]) -> Bool {
        guard word.count <= Self.maxWordBytes else { return false }
        let (slot, hash) = slot(for: word)
        guard slot.load(as: UInt64.self) == hash,
            Int(slot.load(fromByteOffset: 8, as: UInt8.self)) == word.count,
            memcmp(slot + 16, word.baseAddress!, word.count) == 0
        else { return false }
        let count = Int(slot.load(fromByteOffset: 9, as: UInt8.self))
        let ids = (slot + 32).assumingMemoryBound(to: Int32.self)
        for index in 0..<count { output.append(ids[index]) }
        return true
    }

    /// Remembers that `word` encodes to `encoded`, if both fit in a slot.
    @inline(__always)
    func insert(_ word: UnsafeRawBufferPointer, encoded: ArraySlice<Int32>) {
        guard word.count <= Self.maxWordBytes, encoded.count <= Self.maxTokens, word.count > 0 else { return }
        let (slot, hash) = slot(for: word)
        slot.storeBytes(of: hash, as: UInt64.self)
        slot.storeBytes(of: UInt8(word.count), toByteOffset: 8, as: UInt8.self)
        slot.storeBytes(of: UInt8(encoded.count), toByteOffset: 9, as: UInt8.self)
        (slot + 16).copyMemory(from: word.baseAddress!, byteCount: word.count)
        var offset = 32
        for id in encoded {
            slot.storeBytes(of: id, toByteOffset: offset, as: Int32.self)
            offset += 4
        }
    }
}
