import CKilnKernels
import Foundation

/// Tuning of the float kernels (GEMM, convolution, sequence attention, norms) that trades speed
/// against memory or rounding. Whoever builds a `KernelContext` chooses them (`kiln` reads them
/// from its configuration: `Docs/configuration.md`); KilnTensor reads no environment.
public struct KernelSettings: Sendable, Equatable {
    /// 3×3 stride-1 padding-1 convolutions over at least this many 2×2 output tiles take the
    /// Winograd F(2×2, 3×3) path (see `Conv2D`); 0 turns both Winograd paths off.
    public var winogradMinimumTiles: Int
    /// Such convolutions over at least this many 4×4 output tiles take Winograd F(4×4, 3×3)
    /// instead; 0 turns F(4×4) off (F(2×2) then takes those maps).
    public var winograd4MinimumTiles: Int
    /// Megabytes of idle weight-packing buffers kept between products (`PackBuffers`).
    public var packBufferMegabytes: Int

    /// The defaults: 64 tiles for both Winograd paths, 128 MB of packing buffers.
    public init(winogradMinimumTiles: Int = 64, winograd4MinimumTiles: Int = 64, packBufferMegabytes: Int = 128) {
        precondition(
            winogradMinimumTiles >= 0 && winograd4MinimumTiles >= 0 && packBufferMegabytes >= 0,
            "KernelSettings: negative value")
        self.winogradMinimumTiles = winogradMinimumTiles
        self.winograd4MinimumTiles = winograd4MinimumTiles
        self.packBufferMegabytes = packBufferMegabytes
    }
}

/// Where the float kernels run: the `WorkerPool` they fan work out to, the buffers their weight
/// packings reuse, and their settings. Built by whoever builds a model (`kiln`'s wiring, tests)
/// and handed to it; nothing here is global. The kernels are few and large (a convolution over a
/// whole feature map), so each dispatch's cost is small next to its work. Overlapping calls (two
/// pipelines on one context, or parallel tests) are safe: the pool runs a call that finds it busy
/// on the calling thread.
public final class KernelContext: @unchecked Sendable {
    /// The pool the kernels run on.
    public let pool: WorkerPool
    public let settings: KernelSettings
    /// Packing buffers kept between products.
    public let packBuffers: PackBuffers

    /// Threads the kernels use, the caller included.
    public var width: Int { pool.threadCount }

    public init(pool: WorkerPool, settings: KernelSettings = KernelSettings()) {
        self.pool = pool
        self.settings = settings
        packBuffers = PackBuffers(idleMegabytes: settings.packBufferMegabytes)
    }

    /// A context on a pool of its own of `threads` threads (default: one per online core).
    public convenience init(threads: Int = KernelContext.onlineCores, settings: KernelSettings = KernelSettings()) {
        self.init(pool: WorkerPool(threadCount: threads), settings: settings)
    }

    /// The number of online cores.
    public static var onlineCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Whether this thread runs the kernels alone (inside `serially`).
    public static var isSerial: Bool { kiln_thread_serial() != 0 }

    /// Runs `body` with every kernel it calls kept on this thread: for work that is itself one of
    /// several running side by side on the pool (the samples of a batch). A property of the
    /// thread, whatever context its kernels are given.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = kiln_thread_serial()
        kiln_set_thread_serial(1)
        defer { kiln_set_thread_serial(previous) }
        return try body()
    }

    /// Runs `body(index)` for every index in 0..<count, spread over the pool; returns when all ran.
    public func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || width == 1 || Self.isSerial {
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
    public func runInSlots(_ taskCount: Int, slots: Int, _ body: (_ slot: Int, _ task: Int) -> Void) {
        let slots = Self.isSerial ? 1 : max(1, min(slots, taskCount))
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
