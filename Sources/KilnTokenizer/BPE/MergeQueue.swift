/// A binary min-heap of merge candidates for the BPE and SentencePiece merge loops.
///
/// Each candidate joins symbol `left` with the symbol `right` that followed it when the
/// candidate was pushed. `priority` packs the ordering llama.cpp uses into one integer:
/// the merge rank (or the inverted token score) in the high 32 bits and the left symbol's
/// index in the low 32, so ties go to the leftmost pair. Candidates go stale when either
/// symbol changes; the loops check `leftStamp` and `rightStamp` on pop and skip stale ones,
/// which keeps each merge O(log n) instead of rescanning the word.
struct MergeQueue {
    struct Candidate {
        var priority: UInt64
        var left: Int32
        var right: Int32
        /// What the left and right symbols were when pushed (an id or a length).
        var leftStamp: Int32
        var rightStamp: Int32
        /// The merged symbol's id (BPE); unused by SentencePiece.
        var result: Int32 = 0
    }

    private(set) var storage: [Candidate] = []

    var isEmpty: Bool { storage.isEmpty }

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    mutating func reserve(_ capacity: Int) { storage.reserveCapacity(capacity) }

    /// The priority of a BPE merge: lower rank first, then leftmost.
    @inline(__always)
    static func priority(rank: Int32, left: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: left))
    }

    /// The priority of a SentencePiece merge: higher score first, then leftmost.
    @inline(__always)
    static func priority(score: Float, left: Int32) -> UInt64 {
        // Map the float to an unsigned integer with the same order, then invert it so that the
        // highest score becomes the smallest key.
        let bits = score.bitPattern
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ordered) << 32 | UInt64(UInt32(bitPattern: left))
    }

    mutating func push(_ candidate: Candidate) {
        storage.append(candidate)
        storage.withUnsafeMutableBufferPointer { heap in
            var child = heap.count - 1
            let moving = heap[child]
            while child > 0 {
                let parent = (child - 1) >> 1
                if heap[parent].priority <= moving.priority { break }
                heap[child] = heap[parent]
                child = parent
            }
            heap[child] = moving
        }
    }

    mutating func pop() -> Candidate? {
        guard let last = storage.popLast() else { return nil }
        if storage.isEmpty { return last }
        let top = storage[0]
        storage.withUnsafeMutableBufferPointer { heap in
            let count = heap.count
            var parent = 0
            while true {
                var child = 2 * parent + 1
                if child >= count { break }
                if child + 1 < count, heap[child + 1].priority < heap[child].priority { child += 1 }
                if last.priority <= heap[child].priority { break }
                heap[parent] = heap[child]
                parent = child
            }
            heap[parent] = last
        }
        return top
    }
}
