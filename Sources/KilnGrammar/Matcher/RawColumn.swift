/// A growable array of plain values behind a raw pointer, so that a hot loop can read it through
/// a pointer it refreshes only when the column may have grown (Swift arrays held in a class are
/// re-checked and retained on every access). The owner calls `deallocate` once.
struct RawColumn<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    subscript(index: Int) -> Element {
        @inline(__always) get { base[index] }
        @inline(__always) nonmutating set { base[index] = newValue }
    }

    mutating func append(_ value: Element, count repeats: Int = 1) {
        if count + repeats > capacity {
            var newCapacity = capacity * 2
            while newCapacity < count + repeats { newCapacity *= 2 }
            let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
            newBase.update(from: base, count: count)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }
        (base + count).initialize(repeating: value, count: repeats)
        count += repeats
    }

    mutating func removeAll() { count = 0 }

    func deallocate() { base.deallocate() }

    var memoryBytes: Int { capacity * MemoryLayout<Element>.stride }
}
