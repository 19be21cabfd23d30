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
            timer.schedule(
                deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
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
