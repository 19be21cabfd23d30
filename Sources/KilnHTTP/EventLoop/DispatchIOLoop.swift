import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An event loop on one serial Dispatch queue: the server's default on every platform.
///
/// Dispatch owns the threads, the queue and the wakeups; how sockets reach the queue differs:
///
/// - On Linux the loop's sockets live in one epoll set (``EpollSocketSet``) and a single Dispatch
///   read source watches the set's descriptor. When any socket is ready Dispatch runs the
///   source's handler on the queue, which drains every ready socket with zero-timeout
///   `epoll_wait`s. libdispatch's cost per event (its epoll thread hands the event to a worker,
///   disarming and re-arming the descriptor with two `epoll_ctl`s) is then paid once per batch
///   of ready sockets instead of once per socket event, and a socket's read interest is never
///   re-armed (it stays registered level-triggered).
/// - Elsewhere each connection gets a Dispatch read and write source (``DispatchSocketWatch``).
///
/// Work from other threads arrives with `DispatchQueue.async`; deadlines are checked by a
/// Dispatch timer.
final class DispatchIOLoop: IOLoop, @unchecked Sendable {
    /// The loop whose queue the calling thread is running, set around every block the loop
    /// runs: a thread-local read is far cheaper than `DispatchQueue.getSpecific`, and
    /// ``isCurrent`` is asked several times per request.
    private static let currentLoopKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    /// Zero-timeout waits per readiness event at most, so that work queued by other threads
    /// (responses, stream events) is not held back by a loop that always finds ready sockets.
    private static let drainRounds = 8

    let queue: DispatchQueue
    /// The nice value of the thread that made the loop (the process's, normally).
    private let creatorNice: Int32
    private var sweepTimer: DispatchSourceTimer?
    #if os(Linux)
    /// The loop's sockets; set by ``start(sweepInterval:)`` before any connection, queue-confined.
    private var sockets: EpollSocketSet?
    private var readinessSource: DispatchSourceRead?
    #endif

    init(label: String) {
        queue = DispatchQueue(label: label)
        creatorNice = ThreadPriority.current()
        super.init()
    }

    deinit {
        sweepTimer?.cancel()
        #if os(Linux)
        readinessSource?.cancel()
        #endif
    }

    override var isCurrent: Bool {
        pthread_getspecific(Self.currentLoopKey) == Unmanaged.passUnretained(self).toOpaque()
    }

    override func execute(_ work: @escaping @Sendable () -> Void) {
        if isCurrent {
            work()
        } else {
            queue.async { [self] in onLoop(work) }
        }
    }

    /// Runs `body` marked as running on this loop (see ``isCurrent``).
    @inline(__always)
    func onLoop(_ body: () -> Void) {
        let previous = pthread_getspecific(Self.currentLoopKey)
        pthread_setspecific(Self.currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        body()
        pthread_setspecific(Self.currentLoopKey, previous)
    }

    override func watch(_ fileDescriptor: Int32, for connection: HTTPConnection) -> SocketWatch {
        #if os(Linux)
        return sockets!.watch(fileDescriptor, for: connection)
        #else
        return DispatchSocketWatch(fileDescriptor: fileDescriptor, loop: self, connection: connection)
        #endif
    }

    override func start(sweepInterval interval: Double) throws(SocketError) {
        #if os(Linux)
        // Created here, before the queue runs anything, so that a failure is thrown to the caller.
        let sockets = try EpollSocketSet()
        self.sockets = sockets
        let source = DispatchSource.makeReadSource(fileDescriptor: sockets.descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.drainReadySockets() }
        // Dispatch needs the descriptor open until the source's cancellation is done: the cancel
        // handler holds the set (which closes it) until then.
        source.setCancelHandler { withExtendedLifetime(sockets) {} }
        readinessSource = source
        source.resume()
        #endif
        queue.async { [self] in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let nanoseconds = Int(max(interval, 0.01) * 1e9)
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                           leeway: .nanoseconds(nanoseconds / 10))
            timer.setEventHandler { [unowned self] in
                ThreadPriority.adopt(creatorNice)
                ThreadPriority.raiseLaggingThreads(to: creatorNice)
                onLoop { sweep() }
            }
            timer.resume()
            sweepTimer = timer
        }
    }

    #if os(Linux)
    /// Handles every socket that is ready now. Called on the queue when the epoll set became
    /// readable; waits again (without blocking) while sockets keep coming, which under load
    /// saves Dispatch a disarm, hand-off and re-arm per batch.
    private func drainReadySockets() {
        guard let sockets else { return }
        ThreadPriority.adopt(creatorNice)
        onLoop {
            for _ in 0..<Self.drainRounds {
                if sockets.poll(timeout: 0).count == 0 { break }
            }
        }
    }
    #endif

    override func stop() {
        execute { [self] in
            sweepTimer?.cancel()
            sweepTimer = nil
            #if os(Linux)
            readinessSource?.cancel()
            readinessSource = nil
            sockets?.cancelAll()
            #endif
        }
    }
}

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

/// A read and a write source on one socket. Dispatch sources must be resumed as often as they
/// were suspended before they can be cancelled, so the state of each is tracked here.
final class DispatchSocketWatch: SocketWatch {
    private let fileDescriptor: Int32
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var readSuspended = false
    private var writeResumed = false
    private var sourcesAwaitingCancel = 2
    private var isCancelled = false

    init(fileDescriptor: Int32, loop: DispatchIOLoop, connection: HTTPConnection) {
        self.fileDescriptor = fileDescriptor
        super.init()
        let read = DispatchSource.makeReadSource(fileDescriptor: fileDescriptor, queue: loop.queue)
        // Strong captures: the sources keep the connection alive until both are cancelled and the
        // descriptor is closed; Dispatch drops the handlers after cancellation, ending the cycle.
        read.setEventHandler { loop.onLoop { connection.handleReadable() } }
        read.setCancelHandler { self.sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: fileDescriptor, queue: loop.queue)
        write.setEventHandler { loop.onLoop { connection.handleWritable() } }
        write.setCancelHandler { self.sourceCancelled() }
        readSource = read
        writeSource = write
        read.resume()
    }

    override var isReading: Bool { !readSuspended && !isCancelled }
    override var isWriting: Bool { writeResumed && !isCancelled }

    override func setReading(_ enabled: Bool) {
        guard !isCancelled, enabled == readSuspended, let readSource else { return }
        if enabled { readSource.resume() } else { readSource.suspend() }
        readSuspended = !enabled
    }

    override func setWriting(_ enabled: Bool) {
        guard !isCancelled, enabled != writeResumed, let writeSource else { return }
        if enabled { writeSource.resume() } else { writeSource.suspend() }
        writeResumed = enabled
    }

    override func cancel() {
        guard !isCancelled else { return }
        isCancelled = true
        if readSuspended { readSource?.resume(); readSuspended = false }
        if !writeResumed { writeSource?.resume(); writeResumed = true }
        readSource?.cancel()
        writeSource?.cancel()
    }

    private func sourceCancelled() {
        sourcesAwaitingCancel -= 1
        if sourcesAwaitingCancel == 0 {
            close(fileDescriptor)
            readSource = nil
            writeSource = nil
        }
    }
}
