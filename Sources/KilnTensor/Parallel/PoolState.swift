import CKilnKernels
import Foundation

/// The shared words of a `WorkerPool`, each on its own cache line so that workers polling the
/// generation do not slow the caller's counter updates.
///
/// Protocol of one dispatch: the caller stores the job, resets `done` and the `gate` (tagged with
/// the new generation and with how many threads may take part), then bumps `generation` (waking the
/// parked workers that may take part). A worker that sees the new generation enters through the
/// gate — a compare-and-swap that succeeds only while the gate carries that generation, is open and
/// admits the worker's index — runs the job and counts itself in `done`. The caller runs its own
/// share, then:
/// - strict dispatch (`runOnEveryThread`): waits until every worker is done;
/// - closable dispatch (`parallelFor`): closes the gate and waits only for the workers that had
///   entered. Chunks are claimed dynamically, so a worker that was descheduled when the job was
///   published (more runnable threads than cores) costs nothing: the caller does its chunks, and
///   the worker, arriving late, finds the gate closed (or tagged with a later generation) and skips.
///
/// The thread budget (`budget`, set by `WorkerPool.threadBudget`) caps how many threads a dispatch
/// uses: workers at or past it take no part, stop polling and park until a dispatch wants them,
/// so that the cores they leave are free for other work (a second pool's caller).
final class PoolState: @unchecked Sendable {
    /// Futex word: bumped once per dispatch (and once at shutdown).
    let generation: UnsafeMutablePointer<UInt32>
    /// Bits 32…63: the generation the gate belongs to; bit 31: closed; bits 16…30: threads the
    /// dispatch admits (caller included: workers with a lower index may enter); bits 0…15: workers
    /// entered.
    private let gate: UnsafeMutablePointer<Int>
    /// Workers that finished the current job.
    private let done: UnsafeMutablePointer<Int>
    /// Workers parked (or about to park) on `generation`.
    private let sleepers: UnsafeMutablePointer<Int>
    /// Set while a dispatch is in flight, so re-entrant calls run inline.
    private let busy: UnsafeMutablePointer<Int>
    /// Next chunk for `parallelFor`.
    let chunkCounter: UnsafeMutablePointer<Int>
    private let stopping: UnsafeMutablePointer<Int>
    /// Threads a dispatch may use, caller included (1 … the pool's size).
    let budget: UnsafeMutablePointer<Int>
    private let memory: UnsafeMutableRawPointer
    private let spinNanoseconds: UInt64
    /// The current job; written by the caller before the gate opens, read by workers that entered.
    private var job: ((Int) -> Void)?

    private static let lineSize = 128
    private static let closedBit = 1 << 31
    private static let countMask = (1 << 16) - 1
    private static let admittedShift = 16
    private static let admittedMask = (1 << 15) - 1
    /// How long a waiting thread polls without yielding the core.
    private static let pureSpinNanoseconds: UInt64 = 100_000

    init(spinNanoseconds: UInt64, threadCount: Int) {
        self.spinNanoseconds = spinNanoseconds
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 8 * Self.lineSize, alignment: Self.lineSize)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 8 * Self.lineSize)
        self.memory = memory
        func word<T>(_ line: Int, _ type: T.Type) -> UnsafeMutablePointer<T> {
            (memory + line * PoolState.lineSize).bindMemory(to: T.self, capacity: 1)
        }
        generation = word(0, UInt32.self)
        gate = word(1, Int.self)
        done = word(2, Int.self)
        sleepers = word(3, Int.self)
        busy = word(4, Int.self)
        chunkCounter = word(5, Int.self)
        stopping = word(6, Int.self)
        budget = word(7, Int.self)
        budget.pointee = threadCount
    }

    deinit { memory.deallocate() }

    /// Claims the pool; false when a dispatch is already in flight.
    func beginDispatch() -> Bool {
        if kiln_atomic_fetch_add(busy, 1) == 0 { return true }
        _ = kiln_atomic_fetch_add(busy, -1)
        return false
    }

    func endDispatch() { _ = kiln_atomic_fetch_add(busy, -1) }

    /// Publishes `newJob` to the workers with an index below `admitted` (the caller being 0).
    func publish(_ newJob: @escaping (Int) -> Void, admitted: Int) {
        job = newJob
        kiln_atomic_store(done, 0)
        let next = kiln_atomic_load32(generation) &+ 1
        kiln_atomic_store(gate, Int(next) << 32 | admitted << Self.admittedShift)
        _ = kiln_atomic_fetch_add32(generation, 1)
        if kiln_atomic_load(sleepers) > 0 { kiln_wake_tagged(generation, Self.tags(below: admitted)) }
    }

    /// The futex tag a parked worker carries: one bit of 32, so that a dispatch wakes only the
    /// workers it admits (workers 33 apart share a bit, and wake for nothing now and then).
    static func tag(of index: Int) -> UInt32 { 1 << UInt32((index - 1) & 31) }

    /// The tags of workers 1 ..< `admitted`.
    static func tags(below admitted: Int) -> UInt32 {
        admitted - 1 >= 32 ? ~0 : (1 << UInt32(max(admitted - 1, 0))) - 1
    }

    /// After the caller's own share: waits for every worker (strict) or closes the gate and waits
    /// for those that entered (closable).
    func finish(workerCount: Int, closable: Bool) {
        var expected = workerCount
        if closable {
            expected = kiln_atomic_fetch_or(gate, Self.closedBit) & Self.countMask
        }
        var polls = 0
        var yieldAfter: UInt64 = 0
        while kiln_atomic_load(done) < expected {
            kiln_spin_pause()
            polls += 1
            guard polls & 63 == 0 else { continue }
            // A worker that has not finished after ~100 µs was probably descheduled: give it the core.
            let now = DispatchTime.now().uptimeNanoseconds
            if yieldAfter == 0 { yieldAfter = now &+ Self.pureSpinNanoseconds } else if now >= yieldAfter { sched_yield() }
        }
        job = nil
    }

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
            seen = waitForGeneration(after: seen, index: index)
            if kiln_atomic_load(stopping) != 0 { return }
            if enter(generation: seen, index: index) {
                runJob(index)
                _ = kiln_atomic_fetch_add(done, 1)
            }
        }
    }

    /// Counts this worker into the dispatch of `generation`, unless the gate has closed or moved on,
    /// or the dispatch does not admit `index`.
    private func enter(generation: UInt32, index: Int) -> Bool {
        while true {
            let current = kiln_atomic_load(gate)
            // The generation fills the word's top 32 bits, sign bit included: compare as UInt32
            // (as Int, a generation past 2^31 never matched, and no worker ever entered again).
            guard UInt32(truncatingIfNeeded: current >> 32) == generation, current & Self.closedBit == 0,
                index < (current >> Self.admittedShift) & Self.admittedMask
            else { return false }
            if kiln_atomic_compare_exchange(gate, current, current + 1) != 0 { return true }
        }
    }

    /// Calls the job in its own frame so that the worker's reference to the closure is released
    /// before it checks in: `withoutActuallyEscaping` verifies that no reference outlives the call.
    @inline(never)
    private func runJob(_ index: Int) { job?(index) }

    /// Spins, then parks, until `generation` differs from `seen`; returns the new value. A worker
    /// outside the thread budget does not spin: the core is someone else's.
    private func waitForGeneration(after seen: UInt32, index: Int) -> UInt32 {
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start &+ spinNanoseconds, yieldAfter = start &+ Self.pureSpinNanoseconds
        var polls = 0
        while true {
            let current = kiln_atomic_load32(generation)
            if current != seen { return current }
            if index >= kiln_atomic_load(budget) { break }
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
            if current == seen { kiln_park_tagged(generation, seen, Self.tag(of: index)) }
            _ = kiln_atomic_fetch_add(sleepers, -1)
            let after = kiln_atomic_load32(generation)
            if after != seen { return after }
        }
    }
}
