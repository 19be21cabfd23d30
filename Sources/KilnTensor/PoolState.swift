import CKilnKernels
import Foundation

/// The shared words of a `WorkerPool`: each on its own cache line, so that workers polling the
/// generation do not slow the caller's counter updates.
final class PoolState: @unchecked Sendable {
    /// Futex word: bumped once per dispatch (and once at shutdown).
    let generation: UnsafeMutablePointer<UInt32>
    /// Workers still running the current job.
    private let pending: UnsafeMutablePointer<Int>
    /// Workers parked (or about to park) on `generation`.
    private let sleepers: UnsafeMutablePointer<Int>
    /// Set while a dispatch is in flight, so re-entrant calls run inline.
    private let busy: UnsafeMutablePointer<Int>
    /// Next chunk for `parallelFor`.
    let chunkCounter: UnsafeMutablePointer<Int>
    private let stopping: UnsafeMutablePointer<Int>
    private let memory: UnsafeMutableRawPointer
    private let spinNanoseconds: UInt64
    /// The current job; written by the caller before `generation` is bumped, read by workers after.
    private var job: ((Int) -> Void)?

    private static let lineSize = 128

    init(spinNanoseconds: UInt64) {
        self.spinNanoseconds = spinNanoseconds
        memory = UnsafeMutableRawPointer.allocate(byteCount: 6 * Self.lineSize, alignment: Self.lineSize)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 6 * Self.lineSize)
        generation = (memory + 0 * Self.lineSize).bindMemory(to: UInt32.self, capacity: 1)
        pending = (memory + 1 * Self.lineSize).bindMemory(to: Int.self, capacity: 1)
        sleepers = (memory + 2 * Self.lineSize).bindMemory(to: Int.self, capacity: 1)
        busy = (memory + 3 * Self.lineSize).bindMemory(to: Int.self, capacity: 1)
        chunkCounter = (memory + 4 * Self.lineSize).bindMemory(to: Int.self, capacity: 1)
        stopping = (memory + 5 * Self.lineSize).bindMemory(to: Int.self, capacity: 1)
    }

    deinit { memory.deallocate() }

    /// Claims the pool; false when a dispatch is already in flight.
    func beginDispatch() -> Bool { kiln_atomic_fetch_add(busy, 1) == 0 ? true : undoClaim() }

    private func undoClaim() -> Bool {
        _ = kiln_atomic_fetch_add(busy, -1)
        return false
    }

    func endDispatch() { _ = kiln_atomic_fetch_add(busy, -1) }

    func publish(_ newJob: @escaping (Int) -> Void, workerCount: Int) {
        job = newJob
        kiln_atomic_store(pending, workerCount)
        _ = kiln_atomic_fetch_add32(generation, 1)
        if kiln_atomic_load(sleepers) > 0 { kiln_wake_all(generation) }
    }

    func waitForWorkers() {
        var polls = 0
        var yieldAfter: UInt64 = 0
        while kiln_atomic_load(pending) > 0 {
            kiln_spin_pause()
            polls += 1
            guard polls & 63 == 0 else { continue }
            // A worker that has not checked in after ~100 µs was probably descheduled (more runnable
            // threads than cores): give it the core instead of burning it.
            let now = DispatchTime.now().uptimeNanoseconds
            if yieldAfter == 0 { yieldAfter = now &+ Self.pureSpinNanoseconds } else if now >= yieldAfter { sched_yield() }
        }
        job = nil
    }

    /// How long a waiting thread polls without yielding the core.
    private static let pureSpinNanoseconds: UInt64 = 100_000

    func shutDown() {
        kiln_atomic_store(stopping, 1)
        _ = kiln_atomic_fetch_add32(generation, 1)
        kiln_wake_all(generation)
    }

    func workerLoop(index: Int) {
        // Generation 0 is the value before the first dispatch; reading the live value here would
        // miss a dispatch published before this thread got scheduled.
        var seen: UInt32 = 0
        while true {
            seen = waitForGeneration(after: seen)
            if kiln_atomic_load(stopping) != 0 { return }
            runJob(index)
            _ = kiln_atomic_fetch_add(pending, -1)
        }
    }

    /// Calls the job in its own frame so that the worker's reference to the closure is released
    /// before it checks in: `withoutActuallyEscaping` verifies that no reference outlives the call.
    @inline(never)
    private func runJob(_ index: Int) { job?(index) }

    /// Spins, then parks, until `generation` differs from `seen`; returns the new value.
    private func waitForGeneration(after seen: UInt32) -> UInt32 {
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start &+ spinNanoseconds, yieldAfter = start &+ Self.pureSpinNanoseconds
        var polls = 0
        while true {
            let current = kiln_atomic_load32(generation)
            if current != seen { return current }
            kiln_spin_pause()
            polls += 1
            guard polls & 63 == 0 else { continue }
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { break }
            // Past the pure-spin window, keep polling but let other runnable threads (the pool's
            // own, when it has more threads than cores) have the core between polls.
            if now >= yieldAfter { sched_yield() }
        }
        while true {
            _ = kiln_atomic_fetch_add(sleepers, 1)
            let current = kiln_atomic_load32(generation)
            if current == seen { kiln_park(generation, seen) }
            _ = kiln_atomic_fetch_add(sleepers, -1)
            let after = kiln_atomic_load32(generation)
            if after != seen { return after }
        }
    }
}
