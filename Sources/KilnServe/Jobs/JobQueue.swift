import Foundation

/// The bounded waiting room in front of the scheduler: highest priority first, then first come
/// first served. Thread-safe.
// @unchecked Sendable: the jobs are read and changed only under `lock`.
public final class JobQueue: @unchecked Sendable {
    /// The most jobs it holds; one more is refused with `ServeError.queueFull`.
    public let capacity: Int
    /// Suggested wait reported with `queueFull`, for the `Retry-After` header.
    public let retryAfterSeconds: Int

    private let lock = NSLock()
    /// Sorted: priority descending, then submission order.
    private var jobs: [Job] = []

    public init(capacity: Int, retryAfterSeconds: Int = 1) {
        self.capacity = max(0, capacity)
        self.retryAfterSeconds = max(1, retryAfterSeconds)
        jobs.reserveCapacity(self.capacity)
    }

    /// Jobs waiting now.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return jobs.count
    }

    /// The waiting jobs in the order they will be admitted.
    public var waitingJobs: [Job] {
        lock.lock()
        defer { lock.unlock() }
        return jobs
    }

    /// Adds a job behind every job of its priority or higher.
    public func enqueue(_ job: Job) throws(ServeError) {
        lock.lock()
        defer { lock.unlock() }
        guard jobs.count < capacity else {
            throw .queueFull(capacity: capacity, retryAfterSeconds: retryAfterSeconds)
        }
        // Jobs arrive in id order, so inserting after every job of priority >= ours keeps FIFO.
        let priority = job.work.priority
        var low = 0, high = jobs.count
        while low < high {
            let middle = (low + high) / 2
            if jobs[middle].work.priority >= priority { low = middle + 1 } else { high = middle }
        }
        jobs.insert(job, at: low)
    }

    /// Removes a job; false if it is not in the queue (already admitted or removed).
    @discardableResult
    public func remove(_ job: Job) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let index = jobs.firstIndex(where: { $0 === job }) else { return false }
        jobs.remove(at: index)
        return true
    }

    /// Removes and returns the head if `shouldTake` accepts it. The check runs under the queue's
    /// lock, so the head it saw is the head it gets; it must be quick and must not touch the queue.
    public func popFirst(if shouldTake: (Job) -> Bool) -> Job? {
        lock.lock()
        defer { lock.unlock() }
        guard let head = jobs.first, shouldTake(head) else { return nil }
        jobs.removeFirst()
        return head
    }

    /// Jobs waiting now that match `predicate`.
    public func count(where predicate: (Job) -> Bool) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return jobs.reduce(0) { $0 + (predicate($1) ? 1 : 0) }
    }

    /// Removes and returns the first job of a kind (`kind` accepts it) if `shouldTake` accepts it:
    /// text and image jobs wait in one queue but are admitted by different rules, so that neither
    /// kind holds up the other. Both closures run under the queue's lock.
    public func popFirst(of kind: (Job) -> Bool, if shouldTake: (Job) -> Bool) -> Job? {
        lock.lock()
        defer { lock.unlock() }
        guard let index = jobs.firstIndex(where: kind), shouldTake(jobs[index]) else { return nil }
        return jobs.remove(at: index)
    }

    /// Removes and returns every job matching `predicate`, in queue order.
    public func removeAll(where predicate: (Job) -> Bool) -> [Job] {
        lock.lock()
        defer { lock.unlock() }
        guard jobs.contains(where: predicate) else { return [] }
        let removed = jobs.filter(predicate)
        jobs.removeAll(where: predicate)
        return removed
    }
}
