import CKilnKernels
import Foundation

/// A persistent pool of worker threads that kernels fan out to.
///
/// The calling thread takes part as thread 0, so a pool of `threadCount` threads starts
/// `threadCount - 1` workers. A dispatch publishes the job by bumping a generation counter; workers
/// that finished the previous job spin on that counter for `spinMicroseconds` (so back-to-back
/// kernels of one token step are picked up in well under a microsecond), then park on a futex until
/// woken. The caller runs its share and spins until every worker has checked in.
///
/// The thread budget (`threadBudget`) lowers how many of the threads a dispatch uses, from any
/// thread and at any time (the next dispatch honours it): a scheduler that runs two pools side by
/// side gives each its share of the cores, and the workers outside the budget park instead of
/// polling. The work is still split for `threadCount` threads (as kernels size their parts by it),
/// so a budget changes which thread does a part, never the parts nor the results.
///
/// Calls are blocking and must come from one thread at a time (the engine loop). A call made while
/// another dispatch is in flight — from inside a job, or from a second thread — does not deadlock:
/// it runs its whole job on the calling thread.
///
/// Measured per-dispatch cost (`kiln bench-kernels`, "pool dispatch"), 2 threads on the 2-core
/// development VM with the benchmark at raised priority: ~1.0 µs for a `parallelFor` of 18 chunks,
/// ~1.2 µs for an empty `runOnEveryThread` — about 0.3 ms of a decode step's ~300 dispatches. At
/// normal priority on the same machine under a load average of 11, `parallelFor` stays ~2 µs
/// (late workers are not waited for) while `runOnEveryThread` ranges from µs to ms.
public final class WorkerPool: @unchecked Sendable {
    /// Threads that run each job, the caller included.
    public let threadCount: Int
    private let state: PoolState
    private var threads: [pthread_t] = []

    /// Starts `threadCount - 1` worker threads.
    ///
    /// - Parameters:
    ///   - threadCount: threads per job including the caller; clamped to `1 ... 256`. Defaults to
    ///     the number of active processors.
    ///   - spinMicroseconds: how long an idle worker polls for the next job before parking.
    public init(
        threadCount: Int = ProcessInfo.processInfo.activeProcessorCount,
        spinMicroseconds: Int = 2_000
    ) {
        self.threadCount = min(max(threadCount, 1), 256)
        state = PoolState(spinNanoseconds: UInt64(max(spinMicroseconds, 0)) * 1_000, threadCount: self.threadCount)
        for index in 1..<self.threadCount {
            let context = Unmanaged.passRetained(WorkerContext(state: state, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(
                &thread, nil,
                { raw in
                    let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    context.state.workerLoop(index: context.index)
                    return nil
                }, context)
            precondition(status == 0, "WorkerPool: pthread_create failed with \(status)")
            threads.append(thread)
        }
    }

    deinit {
        state.shutDown()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Threads a dispatch may use, the caller included: `1 ... threadCount` (a value outside is
    /// clamped). Starts at `threadCount`; thread-safe.
    public var threadBudget: Int {
        get { kiln_atomic_load(state.budget) }
        set { kiln_atomic_store(state.budget, min(max(newValue, 1), threadCount)) }
    }

    /// Runs `body(threadIndex)` once for each `threadIndex` in `0 ..< threadCount` and returns when
    /// all have finished: each on a thread of its own (0 being the caller), except that under a
    /// thread budget the caller also runs the indices of the threads outside it.
    public func runOnEveryThread(_ body: (_ threadIndex: Int) -> Void) {
        let admitted = min(threadBudget, threadCount)
        guard admitted > 1, state.beginDispatch() else {
            for index in 0..<threadCount { body(index) }
            return
        }
        let threadCount = threadCount
        dispatchClaimed(
            { index in
                body(index)
                if index == 0 { for outside in admitted..<threadCount { body(outside) } }
            }, admitted: admitted, closable: false)
    }

    /// Publishes `body` to workers `1 ..< admitted` and runs it as thread 0; the caller has claimed
    /// the pool with `beginDispatch`. A closable job may be skipped by workers that arrive after
    /// the caller finished its share (see `PoolState`).
    private func dispatchClaimed(_ body: (Int) -> Void, admitted: Int, closable: Bool) {
        withoutActuallyEscaping(body) { job in
            state.publish(job, admitted: admitted)
            job(0)
            state.finish(workerCount: admitted - 1, closable: closable)
        }
        state.endDispatch()
    }

    /// Splits `0 ..< count` into chunks of `grain` indices that threads claim one at a time (so a
    /// slow or descheduled thread does not hold the others up) and returns when all are done.
    /// `body` receives each chunk as a range and may run on any thread.
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let grain = max(grain, 1)
        let chunkCount = (count + grain - 1) / grain
        guard chunkCount > 1, threadCount > 1 else {
            body(0..<count)
            return
        }
        let admitted = min(threadBudget, chunkCount)
        if admitted == 1 {
            // The budget leaves the caller alone: the same chunks, in order, on this thread.
            for start in stride(from: 0, to: count, by: grain) { body(start..<min(start + grain, count)) }
            return
        }
        // Nested or concurrent calls run inline: the chunk counter belongs to the dispatch in flight.
        guard state.beginDispatch() else {
            body(0..<count)
            return
        }
        let counter = state.chunkCounter
        kiln_atomic_store(counter, 0)
        // Every chunk is claimed by someone, so a worker that is late may skip the job entirely.
        dispatchClaimed(
            { _ in
                while true {
                    let chunk = kiln_atomic_fetch_add(counter, 1)
                    if chunk >= chunkCount { break }
                    let start = chunk * grain
                    body(start..<min(start + grain, count))
                }
            }, admitted: admitted, closable: true)
    }
}

/// A worker's start-up arguments.
private final class WorkerContext {
    let state: PoolState
    let index: Int
    init(state: PoolState, index: Int) {
        self.state = state
        self.index = index
    }
}
