import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps Dispatch's threads at the priority the server was started with.
///
/// On Linux libdispatch gives each worker thread it starts an absolute nice value for its QoS
/// class (0 for the default class) and its manager thread -4, whatever the process's own: under
/// `nice -n -20 kiln serve` the I/O would run at 0 while the rest of the process runs at -20, and
/// an operator's `nice` would not apply to it. On a busy machine that costs the loop its wakeups
/// (milliseconds of p99 latency). A loop's handlers therefore set the thread they run on back to
/// the nice value of the thread that made the loop, once per thread (a thread-local flag), and
/// the deadline sweep raises any thread of the process left below it (Dispatch's manager thread,
/// which runs no handler of ours).
enum ThreadPriority {
    /// The nice value per thread last adopted; nil on threads that never adopted one.
    private static let adoptedKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The calling thread's nice value.
    static func current() -> Int32 {
        #if os(Linux)
            // On Linux `PRIO_PROCESS` with 0 names the calling thread.
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
            return getpriority(PRIO_PROCESS, 0)
        #endif
    }

    /// Nanoseconds of the last ``raiseLaggingThreads(to:)`` pass; one pass a second is plenty.
    nonisolated(unsafe) private static var lastRaise: UInt64 = 0
    private static let raiseLock = NSLock()

    /// Gives every thread of the process whose nice value is above `nice` (a lower priority)
    /// that value; at most once a second. Threads at or above that priority are left alone.
    ///
    /// Kiln's own threads inherit the server's nice value, so only the ones libdispatch reniced
    /// lag behind it today. A thread deliberately run below the server's priority would be
    /// raised too: such a thread would need to be told apart here.
    static func raiseLaggingThreads(to nice: Int32) {
        #if os(Linux)
            let now = MonotonicClock.nanoseconds()
            let due: Bool = raiseLock.withLock {
                guard now &- lastRaise >= 1_000_000_000 else { return false }
                lastRaise = now
                return true
            }
            guard due, let directory = opendir("/proc/self/task") else { return }
            defer { closedir(directory) }
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard let thread = UInt32(name) else { continue }
                errno = 0
                let current = getpriority(which, thread)
                if errno == 0 && current > nice { _ = setpriority(which, thread, nice) }
            }
        #endif
    }

    /// Sets the calling thread's nice value to `nice` unless it already adopted it.
    @inline(__always)
    static func adopt(_ nice: Int32) {
        #if os(Linux)
            // Stored as nice + 100 so that nil (never set) differs from every nice value.
            let marker = UnsafeMutableRawPointer(bitPattern: Int(nice) + 100)
            guard pthread_getspecific(adoptedKey) != marker else { return }
            pthread_setspecific(adoptedKey, marker)
            if getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) != nice {
                // Fails without privilege when raising priority; the thread then keeps Dispatch's.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
            }
        #endif
    }
}
