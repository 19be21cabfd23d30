/// A growable scratch buffer reused across calls, so that the im2col patches and attention scores
/// of every layer share one allocation. Not thread-safe: one per model, used by one caller at a time.
final class Scratch: @unchecked Sendable {
    private var storage: UnsafeMutablePointer<Float>
    private var capacity: Int

    init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        storage = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// At least `count` floats; the contents are undefined.
    func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            storage.deallocate()
            capacity = max(count, capacity * 2)
            storage = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        }
        return storage
    }
}
