/// Byte strings with values, sorted so that the entries that are prefixes of a text can be
/// found by narrowing a range one byte at a time: a trie without nodes.
///
/// Entries that share their first `n` bytes are adjacent, and among them an entry of exactly
/// `n` bytes comes first, so each byte of the text takes two binary searches inside the
/// current range. Lookups allocate nothing. Where two entries have the same bytes, the one
/// with the larger value wins (as a trie that overwrites on insert, inserting by id).
struct SortedPrefixTable: Sendable {
    /// `count + 1` offsets into `bytes`, in sorted order.
    private let offsets: [Int32]
    private let bytes: [UInt8]
    private let values: [Int32]

    var isEmpty: Bool { values.isEmpty }

    init(_ entries: [(bytes: [UInt8], value: Int32)]) {
        let sorted = entries.filter { !$0.bytes.isEmpty }.sorted { left, right in
            left.bytes.lexicographicallyPrecedes(right.bytes)
                || (left.bytes == right.bytes && left.value < right.value)
        }
        var offsets: [Int32] = [0]
        var bytes: [UInt8] = []
        offsets.reserveCapacity(sorted.count + 1)
        for entry in sorted {
            bytes.append(contentsOf: entry.bytes)
            offsets.append(Int32(bytes.count))
        }
        self.offsets = offsets
        self.bytes = bytes
        values = sorted.map(\.value)
    }

    /// Calls `body(length, value)` for every entry that `text[start...]` begins with, shortest first.
    func forEachPrefix(
        of text: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (_ length: Int, _ value: Int32) -> Void
    ) {
        offsets.withUnsafeBufferPointer { offsets in
            bytes.withUnsafeBufferPointer { bytes in
                /// Byte `depth` of entry `index`, or -1 where the entry is no longer.
                @inline(__always) func key(_ index: Int, _ depth: Int) -> Int {
                    let position = Int(offsets[index]) + depth
                    return position < Int(offsets[index + 1]) ? Int(bytes[position]) : -1
                }
                /// The first index in `low..<high` whose key is not below `limit` (or above it, with `orEqual`).
                @inline(__always) func bound(_ low: Int, _ high: Int, _ depth: Int, _ limit: Int, orEqual: Bool) -> Int {
                    var low = low, high = high
                    while low < high {
                        let middle = (low + high) / 2
                        let value = key(middle, depth)
                        if value < limit || (orEqual && value == limit) { low = middle + 1 } else { high = middle }
                    }
                    return low
                }
                var low = 0
                var high = values.count
                var depth = 0
                while start + depth < text.count && low < high {
                    let byte = Int(text[start + depth])
                    low = bound(low, high, depth, byte, orEqual: false)
                    high = bound(low, high, depth, byte, orEqual: true)
                    depth += 1
                    guard low < high, Int(offsets[low + 1] - offsets[low]) == depth else { continue }
                    var last = low
                    while last + 1 < high && Int(offsets[last + 2] - offsets[last + 1]) == depth { last += 1 }
                    body(depth, values[last])
                }
            }
        }
    }

    /// The length of the longest entry that `text[start...]` begins with, or 0.
    func longestPrefix(of text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var longest = 0
        forEachPrefix(of: text, from: start) { length, _ in longest = length }
        return longest
    }
}
