#if os(Linux)
    import CKilnLinux
    import Foundation
    import Glibc

    /// An event loop on its own thread, blocked in `epoll_wait` on its connections' sockets: the
    /// opt-in mechanism (`server.event_mechanism = "epoll"`, Linux only); ``DispatchIOLoop`` is the
    /// default.
    ///
    /// A request costs one `recv` and one `send`: sockets stay registered level-triggered for
    /// reading in the loop's ``EpollSocketSet``, and writability is watched only while a send would
    /// block. `epoll_wait` returns many ready sockets at once, so under load its cost is shared by
    /// many requests. Unlike the Dispatch loop, a wakeup needs no hand-off from Dispatch's epoll
    /// thread to a worker: the thread that waits is the thread that serves.
    ///
    /// Work from other threads (responses from the engine, stream events, shutdown) goes through a
    /// mailbox and an `eventfd` that wakes the loop; a wake is written only when the mailbox was
    /// empty, so a burst of events costs one.
    final class EpollIOLoop: IOLoop, @unchecked Sendable {
        /// Identifies the loop running on the current thread.
        private static let currentLoopKey: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key, nil)
            return key
        }()
        let name: String
        /// The loop's sockets; created by ``start(sweepInterval:)``, loop-confined after.
        private var sockets: EpollSocketSet?
        private var wakeDescriptor: Int32 = -1
        private var isRunning = false
        private var sweepNanoseconds: UInt64 = 250_000_000
        private var nextSweep: UInt64 = 0

        private let mailboxLock = NSLock()
        /// Work queued by other threads; guarded by `mailboxLock`.
        private var mailbox: [@Sendable () -> Void] = []
        /// Whether a wake was written and not consumed yet; guarded by `mailboxLock`.
        private var wakePending = false
        /// False once the loop stopped; guarded by `mailboxLock`.
        private var acceptsWork = true
        /// The emptied array of the previous drain, kept for its capacity; loop-confined.
        private var spareBatch: [@Sendable () -> Void] = []

        init(name: String) {
            self.name = name
            super.init()
        }

        deinit {
            // Closed only here: a thread that is enqueueing holds a reference, so no write to the
            // wake descriptor can race with its closing.
            if wakeDescriptor >= 0 { close(wakeDescriptor) }
        }

        override var isCurrent: Bool {
            pthread_getspecific(Self.currentLoopKey) == Unmanaged.passUnretained(self).toOpaque()
        }

        override func execute(_ work: @escaping @Sendable () -> Void) {
            if isCurrent {
                work()
                return
            }
            let needsWake: Bool = mailboxLock.withLock {
                guard acceptsWork else { return false }
                mailbox.append(work)
                if wakePending { return false }
                wakePending = true
                return true
            }
            // Work refused after the loop stopped is released here, outside the lock: releasing a
            // responder may enqueue again.
            if needsWake {
                var one: UInt64 = 1
                _ = write(wakeDescriptor, &one, MemoryLayout<UInt64>.size)
            }
        }

        override func watch(_ fileDescriptor: Int32, for connection: HTTPConnection) -> SocketWatch {
            sockets!.watch(fileDescriptor, for: connection)
        }

        /// Creates the epoll and wake descriptors and starts the thread.
        override func start(sweepInterval interval: Double) throws(SocketError) {
            let sockets = try EpollSocketSet()
            wakeDescriptor = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
            guard wakeDescriptor >= 0 else { throw .systemCall(name: "eventfd", errno: errno) }
            try sockets.addWakeDescriptor(wakeDescriptor)
            self.sockets = sockets
            sweepNanoseconds = UInt64(max(interval, 0.01) * 1e9)
            isRunning = true
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            // The thread starts with every signal blocked, as Dispatch's threads do: SIGTERM, SIGINT
            // and SIGHUP are ignored by disposition and read from Dispatch signal sources, so one
            // delivered to a thread that does not block it would be lost.
            var allSignals = sigset_t()
            var previousMask = sigset_t()
            sigfillset(&allSignals)
            pthread_sigmask(SIG_SETMASK, &allSignals, &previousMask)
            let status = pthread_create(
                &thread, nil,
                { context in
                    let loop = Unmanaged<EpollIOLoop>.fromOpaque(context!).takeRetainedValue()
                    loop.run()
                    return nil
                }, context)
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
            guard status == 0 else {
                Unmanaged<EpollIOLoop>.fromOpaque(context).release()
                isRunning = false
                throw .systemCall(name: "pthread_create", errno: status)
            }
            pthread_detach(thread)
        }

        override func stop() {
            execute { [self] in isRunning = false }
        }

        private func run() {
            pthread_setspecific(Self.currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
            nextSweep = MonotonicClock.nanoseconds() &+ sweepNanoseconds
            let sockets = self.sockets!
            while isRunning {
                if sockets.poll(timeout: pollTimeout()).woken { drainMailbox() }
                let now = MonotonicClock.nanoseconds()
                if now >= nextSweep {
                    nextSweep = now &+ sweepNanoseconds
                    sweep()
                }
            }
            let leftovers: [@Sendable () -> Void] = mailboxLock.withLock {
                acceptsWork = false
                defer { mailbox = [] }
                return mailbox
            }
            _ = leftovers
            sockets.cancelAll()
            pthread_setspecific(Self.currentLoopKey, nil)
        }

        /// Milliseconds until the next sweep, or forever while no connection needs one.
        private func pollTimeout() -> Int32 {
            guard !connections.isEmpty else { return -1 }
            let now = MonotonicClock.nanoseconds()
            guard nextSweep > now else { return 0 }
            return Int32(clamping: (nextSweep - now + 999_999) / 1_000_000)
        }

        private func drainMailbox() {
            var counter: UInt64 = 0
            _ = read(wakeDescriptor, &counter, MemoryLayout<UInt64>.size)
            var batch = spareBatch
            spareBatch = []
            mailboxLock.withLock {
                swap(&batch, &mailbox)
                wakePending = false
            }
            for work in batch { work() }
            batch.removeAll(keepingCapacity: true)
            spareBatch = batch
        }
    }
#endif
