import Foundation

/// Remembers the token ids of recently merged words, shared by all threads using one tokenizer.
///
/// Natural text repeats its words, so most words skip the merge loop. The cache is bounded: when
/// it holds `capacity` words it is emptied and starts over, which keeps memory fixed without
/// per-entry bookkeeping. Keys are raw word bytes; lookups allocate nothing.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private let table = ByteStringTable(minimumCapacity: 1024)
    private var ids: [Int32] = []
    private let capacity: Int
    let maxWordBytes: Int

    init(capacity: Int, maxWordBytes: Int) {
        self.capacity = capacity
        self.maxWordBytes = maxWordBytes
    }

    /// Appends the cached ids of `word` to `output` and returns true, or returns false.
    func append(_ word: UnsafeRawBufferPointer, to output: inout [Int32]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let packed = table.value(for: word) else { return false }
        let start = Int(packed >> 32)
        let count = Int(packed & 0xFFFF_FFFF)
        output.append(contentsOf: ids[start..<start + count])
        return true
    }

    /// Remembers that `word` encodes to `encoded`.
    func insert(_ word: UnsafeRawBufferPointer, encoded: ArraySlice<Int32>) {
        lock.lock()
        defer { lock.unlock() }
        if table.count >= capacity {
            table.removeAll()
            ids.removeAll(keepingCapacity: true)
        }
        let packed = Int64(ids.count) << 32 | Int64(encoded.count)
        ids.append(contentsOf: encoded)
        table.set(packed, for: word)
    }

    /// Forgets every word (benchmarks use this to measure the merge loop itself).
    func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        table.removeAll()
        ids.removeAll(keepingCapacity: true)
    }
}
