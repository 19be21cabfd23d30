/// The most recent tokens of one sequence, for the repetition, presence and frequency
/// penalties: a ring buffer whose capacity is the penalty window, allocated once.
public struct TokenHistory: Sendable {
    private var ring: [Int32]
    private var nextSlot = 0
    /// How many tokens the ring holds (at most its capacity).
    public private(set) var count = 0

    /// A history that remembers the last `capacity` tokens (0 remembers nothing).
    public init(capacity: Int) {
        ring = [Int32](repeating: 0, count: max(0, capacity))
    }

    /// The most tokens it remembers.
    public var capacity: Int { ring.count }

    /// Records a token, forgetting the oldest one when full.
    public mutating func append(_ token: Int32) {
        guard !ring.isEmpty else { return }
        ring[nextSlot] = token
        nextSlot = nextSlot + 1 == ring.count ? 0 : nextSlot + 1
        count = min(count + 1, ring.count)
    }

    /// Calls `body` with every remembered token (order is unspecified: penalties only count).
    @inline(__always)
    public func forEach(_ body: (Int32) -> Void) {
        for index in 0..<count { body(ring[index]) }
    }

    /// Forgets everything.
    public mutating func removeAll() {
        nextSlot = 0
        count = 0
    }
}
