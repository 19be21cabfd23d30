/// The BPE merge list as a hash table keyed by the pair of symbol ids it joins.
///
/// `merges[i] = "A B"` gives the pair (id(A), id(B)) rank `i` (lower merges first) and the id of
/// the joined string `AB`. Keys pack both ids into one `UInt64`; the table is open-addressed
/// with linear probing and is read-only once built, so any number of threads may share it.
struct MergeRankTable: Sendable {
    /// What a merge of two adjacent symbols produces.
    struct Merge: Sendable {
        /// Priority: the index of the merge in `tokenizer.ggml.merges`.
        var rank: Int32
        /// Symbol id of the joined string.
        var merged: Int32
    }

    private var keys: [UInt64]
    private var merges: [Merge]
    private var mask: Int
    private(set) var count = 0

    private static let emptyKey = UInt64.max

    init(capacity: Int) {
        var slotCount = 16
        while slotCount < capacity * 2 { slotCount <<= 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: slotCount)
        merges = [Merge](repeating: Merge(rank: 0, merged: 0), count: slotCount)
        mask = slotCount - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private static func slot(for key: UInt64, mask: Int) -> Int {
        var mixed = key &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        return Int(truncatingIfNeeded: mixed) & mask
    }

    /// Records a merge unless the same pair was listed earlier (the earlier, lower rank wins,
    /// as in llama.cpp, whose `emplace` keeps the first).
    mutating func insert(left: Int32, right: Int32, merge: Merge) {
        if count * 2 >= keys.count { grow() }
        let key = Self.key(left, right)
        var slot = Self.slot(for: key, mask: mask)
        while keys[slot] != Self.emptyKey {
            if keys[slot] == key { return }
            slot = (slot + 1) & mask
        }
        keys[slot] = key
        merges[slot] = merge
        count += 1
    }

    /// The merge for the adjacent pair (`left`, `right`), if the merge list has one.
    @inline(__always)
    func merge(left: Int32, right: Int32) -> Merge? {
        let key = Self.key(left, right)
        var slot = Self.slot(for: key, mask: mask)
        return keys.withUnsafeBufferPointer { keys in
            while true {
                let found = keys[slot]
                if found == key { return merges[slot] }
                if found == Self.emptyKey { return nil }
                slot = (slot + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldMerges = merges
        keys = [UInt64](repeating: Self.emptyKey, count: oldKeys.count * 2)
        merges = [Merge](repeating: Merge(rank: 0, merged: 0), count: oldKeys.count * 2)
        mask = keys.count - 1
        for index in oldKeys.indices where oldKeys[index] != Self.emptyKey {
            var slot = Self.slot(for: oldKeys[index], mask: mask)
            while keys[slot] != Self.emptyKey { slot = (slot + 1) & mask }
            keys[slot] = oldKeys[index]
            merges[slot] = oldMerges[index]
        }
    }
}
