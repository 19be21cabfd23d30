#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A hash table from byte strings to 64-bit values that looks keys up without allocating.
///
/// Keys are copied into one growing arena; the table uses open addressing with linear probing
/// over a power-of-two slot array. Lookups take a raw buffer (a slice of the text being
/// tokenized), so the hot path never builds an `Array` or `String` key.
/// Not thread-safe: share it read-only, or guard it with a lock.
final class ByteStringTable {
    private struct Entry {
        var hash: UInt64
        var keyOffset: Int
        var keyLength: Int
        var value: Int64
    }

    private var slots: UnsafeMutablePointer<Int32>  // entry index + 1; 0 is empty
    private var slotMask: Int
    private var entries: [Entry] = []
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCapacity: Int
    private var arenaCount = 0

    /// Number of keys stored.
    var count: Int { entries.count }
    /// Bytes of key storage in use.
    var keyBytes: Int { arenaCount }

    init(minimumCapacity: Int = 16) {
        var slotCount = 16
        while slotCount < minimumCapacity * 2 { slotCount <<= 1 }
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: 0, count: slotCount)
        slotMask = slotCount - 1
        arenaCapacity = max(64, minimumCapacity * 8)
        arena = .allocate(capacity: arenaCapacity)
        entries.reserveCapacity(minimumCapacity)
    }

    deinit {
        slots.deallocate()
        arena.deallocate()
    }

    /// The value stored for `key`, if any.
    @inline(__always)
    func value(for key: UnsafeRawBufferPointer) -> Int64? {
        let hash = Self.hash(key)
        var slot = Int(truncatingIfNeeded: hash) & slotMask
        return entries.withUnsafeBufferPointer { entries in
            while true {
                let index = Int(slots[slot])
                if index == 0 { return nil }
                let entry = entries[index - 1]
                if entry.hash == hash, entry.keyLength == key.count,
                    key.count == 0 || memcmp(arena + entry.keyOffset, key.baseAddress!, key.count) == 0
                {
                    return entry.value
                }
                slot = (slot + 1) & slotMask
            }
        }
    }

    func value(for key: [UInt8]) -> Int64? {
        key.withUnsafeBytes { value(for: $0) }
    }

    /// Stores `value` for `key`, replacing any value stored before.
    func set(_ value: Int64, for key: UnsafeRawBufferPointer) {
        let hash = Self.hash(key)
        var slot = Int(truncatingIfNeeded: hash) & slotMask
        while true {
            let index = Int(slots[slot])
            if index == 0 { break }
            let entry = entries[index - 1]
            if entry.hash == hash, entry.keyLength == key.count,
                key.count == 0 || memcmp(arena + entry.keyOffset, key.baseAddress!, key.count) == 0
            {
                entries[index - 1].value = value
                return
            }
            slot = (slot + 1) & slotMask
        }
        reserveArena(key.count)
        if key.count > 0 { (arena + arenaCount).update(from: key.baseAddress!.assumingMemoryBound(to: UInt8.self), count: key.count) }
        entries.append(Entry(hash: hash, keyOffset: arenaCount, keyLength: key.count, value: value))
        arenaCount += key.count
        slots[slot] = Int32(entries.count)
        if entries.count * 2 > slotMask + 1 { grow() }
    }

    func set(_ value: Int64, for key: [UInt8]) {
        key.withUnsafeBytes { set(value, for: $0) }
    }

    /// Forgets every key, keeping the storage for reuse.
    func removeAll() {
        slots.update(repeating: 0, count: slotMask + 1)
        entries.removeAll(keepingCapacity: true)
        arenaCount = 0
    }

    private func reserveArena(_ extra: Int) {
        guard arenaCount + extra > arenaCapacity else { return }
        var capacity = arenaCapacity * 2
        while capacity < arenaCount + extra { capacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        bigger.update(from: arena, count: arenaCount)
        arena.deallocate()
        arena = bigger
        arenaCapacity = capacity
    }

    private func grow() {
        let slotCount = (slotMask + 1) * 2
        slots.deallocate()
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: 0, count: slotCount)
        slotMask = slotCount - 1
        for (index, entry) in entries.enumerated() {
            var slot = Int(truncatingIfNeeded: entry.hash) & slotMask
            while slots[slot] != 0 { slot = (slot + 1) & slotMask }
            slots[slot] = Int32(index + 1)
        }
    }

    /// A fast 64-bit hash of a byte string: eight bytes at a time, then a full avalanche.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let count = key.count
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
        guard let base = key.baseAddress else { return hash }
        var offset = 0
        while offset + 8 <= count {
            hash = (hash ^ base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
            offset += 8
        }
        if offset < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < count {
                tail |= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) << shift
                shift += 8
                offset += 1
            }
            hash = (hash ^ tail) &* 0x94D0_49BB_1331_11EB
            hash ^= hash >> 29
        }
        hash ^= hash >> 32
        hash &*= 0xD6E8_FEB8_6659_FD93
        hash ^= hash >> 32
        return hash
    }
}
