/// The BPE merge list as a hash table keyed by the pair of symbol ids it joins.
///
/// `merges[i] = "A B"` gives the pair (id(A), id(B)) rank `i` (lower merges first) and the id of
/// the joined string `AB`. A slot holds the packed pair and its merge side by side (16 bytes),
/// so a probe costs one cache miss; open addressing with linear probing, at most 3/4 full.
/// Read-only once built, so any number of threads may share it.
struct MergeRankTable: Sendable {
    /// What a merge of two adjacent symbols produces.
    struct Merge: Sendable {
        /// Priority: the index of the merge in `tokenizer.ggml.merges`.
        var rank: Int32
        /// Symbol id of the joined string.
        var merged: Int32
    }

    private struct Slot {
        var key: UInt64
        var merge: Merge
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    private static var emptyKey: UInt64 { UInt64.max }

    init(capacity: Int) {
        var slotCount = 16
        while slotCount * 3 < capacity * 4 { slotCount <<= 1 }
        slots = [Slot](repeating: Slot(key: Self.emptyKey, merge: Merge(rank: 0, merged: 0)), count: slotCount)
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
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let key = Self.key(left, right)
        var slot = Self.slot(for: key, mask: mask)
        while slots[slot].key != Self.emptyKey {
            if slots[slot].key == key { return }
            slot = (slot + 1) & mask
        }
        slots[slot] = Slot(key: key, merge: merge)
        count += 1
    }

    /// The merge for the adjacent pair (`left`, `right`), if the merge list has one.
    @inline(__always)
    func merge(left: Int32, right: Int32) -> Merge? {
        let key = Self.key(left, right)
        var index = Self.slot(for: key, mask: mask)
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let slot = slots[index]
                if slot.key == key { return slot.merge }
                if slot.key == Self.emptyKey { return nil }
                index = (index + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(key: Self.emptyKey, merge: Merge(rank: 0, merged: 0)), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.key != Self.emptyKey {
            var index = Self.slot(for: slot.key, mask: mask)
            while slots[index].key != Self.emptyKey { index = (index + 1) & mask }
            slots[index] = slot
        }
    }
}
