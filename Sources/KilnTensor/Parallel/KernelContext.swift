import CKilnKernels
#if canImport(Glibc)
import Glibc
#endif

/// How the image kernels fan work out to threads: the engine's persistent `WorkerPool`, one shared
/// pool for every image model. The image kernels are few and large (a convolution over a whole
/// feature map), so each dispatch's cost is small next to its work. Overlapping calls (two
/// pipelines, or parallel tests) are safe: the pool runs a call that finds it busy on the calling
/// thread.
public enum ImageParallel {
    /// Threads the image kernels use; `KILN_IMAGE_THREADS` overrides the number of online cores.
    public static let width: Int = {
        if let text = getenv("KILN_IMAGE_THREADS").map({ String(cString: $0) }), let value = Int(text), value > 0 {
            return min(value, 256)
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// The pool behind `run`, started on first use.
    public static let pool = WorkerPool(threadCount: width)

    /// Whether this thread runs the image kernels alone (inside `serially`).
    public static var isSerial: Bool { kiln_thread_serial() != 0 }

    /// Runs `body` with every image kernel it calls kept on this thread: for work that is itself
    /// one of several running side by side on the pool (the samples of a batch).
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = kiln_thread_serial()
        kiln_set_thread_serial(1)
        defer { kiln_set_thread_serial(previous) }
        return try body()
    }

    /// Runs `body(index)` for every index in 0..<count, spread over the pool; returns when all ran.
    public static func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || width == 1 || isSerial {
            for index in 0..<count { body(index) }
            return
        }
        pool.parallelFor(count) { range in
            for index in range { body(index) }
        }
    }

    /// Runs `body(slot, task)` for every task in 0..<taskCount. At most `slots` bodies run at once
    /// and each holds its own slot in 0..<slots (so a slot can own a scratch buffer); tasks are
    /// claimed one at a time from a shared counter, so a descheduled thread holds up at most one.
    public static func runInSlots(_ taskCount: Int, slots: Int, _ body: (_ slot: Int, _ task: Int) -> Void) {
        let slots = isSerial ? 1 : max(1, min(slots, taskCount))
        if slots == 1 {
            for task in 0..<taskCount { body(0, task) }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { counter in
            counter[0] = 0
            let next = counter.baseAddress!
            run(slots) { slot in
                while true {
                    let task = kiln_atomic_fetch_add(next, 1)
                    if task >= taskCount { break }
                    body(slot, task)
                }
            }
        }
    }
}
