import Foundation

/// The scheduler's notion of time: a monotonic reading since an arbitrary fixed origin.
///
/// Injected so that tests drive deadlines and latency metrics with a `ManualClock`.
public protocol ServeClock: AnyObject, Sendable {
    /// Time elapsed since the clock's origin; never decreases.
    func now() -> Duration
}

/// Monotonic wall time (`ContinuousClock`), origin at creation.
public final class SystemClock: ServeClock, Sendable {
    private let origin = ContinuousClock.now

    public init() {}

    public func now() -> Duration {
        ContinuousClock.now - origin
    }
}

/// A clock that moves only when told to; for tests.
// @unchecked Sendable: `current` is read and written under `lock`.
public final class ManualClock: ServeClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Duration

    public init(start: Duration = .zero) {
        current = start
    }

    public func now() -> Duration {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// Moves the clock forward; negative amounts are ignored (the clock is monotonic).
    public func advance(by amount: Duration) {
        lock.lock()
        defer { lock.unlock() }
        if amount > .zero { current += amount }
    }
}

extension Duration {
    /// The duration in seconds as a `Double`, for metrics.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
