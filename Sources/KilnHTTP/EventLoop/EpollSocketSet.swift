#if os(Linux)
    import CKilnLinux
    import Glibc

    /// The sockets of one event loop in one epoll set: registration, interest changes and the
    /// delivery of ready events to their connections. Loop-confined.
    ///
    /// Both loops use it on Linux and differ only in who waits for the set to become ready:
    /// ``EpollIOLoop`` blocks a thread of its own in `epoll_wait`, ``DispatchIOLoop`` lets a single
    /// Dispatch read source watch the set's descriptor and drains it with zero-timeout waits. Either
    /// way one wait returns every ready socket of the loop, so its cost is shared by many requests,
    /// and sockets stay registered level-triggered for reading (no re-arming per request).
    final class EpollSocketSet {
        private static let eventCapacity = 256
        /// `epoll_data` reserved for a loop's wake descriptor; sockets use their watch's address.
        static let wakeToken: UInt64 = 0

        /// The epoll descriptor; closed on deinit.
        let descriptor: Int32
        private let events: UnsafeMutablePointer<epoll_event>
        /// Sockets watched. Each registration holds its watch strongly, and the watch's address is
        /// the `epoll_data` of its events, so an event finds its watch without a lookup.
        private var watchObjects: [ObjectIdentifier: EpollSocketWatch] = [:]
        /// Watches cancelled while a batch of events is being handled: kept alive until the batch
        /// ends, since a later event of the same batch may still carry their address.
        private var retiredWatches: [EpollSocketWatch] = []

        init() throws(SocketError) {
            descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
            guard descriptor >= 0 else { throw .systemCall(name: "epoll_create1", errno: errno) }
            events = .allocate(capacity: Self.eventCapacity)
        }

        deinit {
            close(descriptor)
            events.deallocate()
        }

        /// Registers a loop's wake descriptor, reported by ``poll(timeout:)`` rather than delivered.
        func addWakeDescriptor(_ fileDescriptor: Int32) throws(SocketError) {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = Self.wakeToken
            guard epoll_ctl(descriptor, EPOLL_CTL_ADD, fileDescriptor, &event) == 0 else {
                throw .systemCall(name: "epoll_ctl", errno: errno)
            }
        }

        /// Starts watching a connection's socket for reading; the watch owns the descriptor.
        func watch(_ fileDescriptor: Int32, for connection: HTTPConnection) -> EpollSocketWatch {
            let watch = EpollSocketWatch(fileDescriptor: fileDescriptor, set: self, connection: connection)
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = watch.token
            if epoll_ctl(descriptor, EPOLL_CTL_ADD, fileDescriptor, &event) == 0 {
                watchObjects[ObjectIdentifier(watch)] = watch
            } else {
                // Cannot happen for a fresh socket short of memory exhaustion; the connection then
                // never hears from its socket, and its header timeout closes it.
                watch.markUnregistered()
            }
            return watch
        }

        /// Changes the events of a watched socket.
        func modify(_ fileDescriptor: Int32, token: UInt64, events mask: UInt32) {
            var event = epoll_event()
            event.events = mask
            event.data.u64 = token
            _ = epoll_ctl(descriptor, EPOLL_CTL_MOD, fileDescriptor, &event)
        }

        /// Stops watching a socket; its pending events in the current batch are skipped.
        func unwatch(_ watch: EpollSocketWatch, fileDescriptor: Int32) {
            _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, fileDescriptor, nil)
            if let registered = watchObjects.removeValue(forKey: ObjectIdentifier(watch)) {
                retiredWatches.append(registered)
            }
        }

        /// What one ``poll(timeout:)`` saw.
        struct PollResult {
            /// Events returned (the wake descriptor's included); 0 when nothing was ready.
            var count: Int
            /// Whether the wake descriptor was among them.
            var woken: Bool
            /// Whether the event buffer was full, so more sockets may be ready still.
            var filled: Bool
        }

        /// Waits up to `timeout` milliseconds (-1: forever, 0: not at all) and hands every ready
        /// socket's events to its connection.
        func poll(timeout: Int32) -> PollResult {
            let count = epoll_wait(descriptor, events, Int32(Self.eventCapacity), timeout)
            if count < 0 {
                let code = errno
                precondition(code == EINTR, "epoll_wait failed: errno \(code)")
                return PollResult(count: 0, woken: false, filled: false)
            }
            var woken = false
            for index in 0..<Int(count) {
                let token = events[index].data.u64
                if token == Self.wakeToken {
                    woken = true
                } else {
                    // Valid: a registered watch is retained by `watchObjects`, a cancelled one by
                    // `retiredWatches` until this batch is done.
                    EpollSocketWatch.from(token: token).deliver(events[index].events)
                }
            }
            if !retiredWatches.isEmpty { retiredWatches.removeAll(keepingCapacity: true) }
            return PollResult(count: Int(count), woken: woken, filled: Int(count) == Self.eventCapacity)
        }

        /// Cancels every watch (closing its socket); for a loop that stops.
        func cancelAll() {
            for watch in Array(watchObjects.values) { watch.cancel() }
            retiredWatches.removeAll()
        }
    }
#endif
