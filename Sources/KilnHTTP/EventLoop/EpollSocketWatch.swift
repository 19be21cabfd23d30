#if os(Linux)
    import CKilnLinux
    import Glibc

    /// One socket registered in a loop's ``EpollSocketSet``: level-triggered, reading on from the start,
    /// writing on only while output waits for room. Changing interest costs an `epoll_ctl`, so it
    /// happens only when the interest really changes.
    final class EpollSocketWatch: SocketWatch {
        private let fileDescriptor: Int32
        private unowned let set: EpollSocketSet
        /// The connection the events go to; released on cancel, which ends the reference cycle.
        private var connection: HTTPConnection?
        private var reading = true
        private var writing = false
        private var isRegistered = true
        private var isCancelled = false

        init(fileDescriptor: Int32, set: EpollSocketSet, connection: HTTPConnection) {
            self.fileDescriptor = fileDescriptor
            self.set = set
            self.connection = connection
        }

        /// The `epoll_data` of this socket's events: the watch's own address (never 0, the wake token).
        var token: UInt64 { UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())) }

        /// The watch whose ``token`` an event carries; the set keeps it alive while events can name it.
        static func from(token: UInt64) -> EpollSocketWatch {
            Unmanaged<EpollSocketWatch>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(token))!).takeUnretainedValue()
        }

        override var isReading: Bool { reading && !isCancelled }
        override var isWriting: Bool { writing && !isCancelled }

        func markUnregistered() {
            isRegistered = false
        }

        override func setReading(_ enabled: Bool) {
            guard !isCancelled, enabled != reading else { return }
            reading = enabled
            updateRegistration()
        }

        override func setWriting(_ enabled: Bool) {
            guard !isCancelled, enabled != writing else { return }
            writing = enabled
            updateRegistration()
        }

        private func updateRegistration() {
            guard isRegistered else { return }
            var mask: UInt32 = 0
            if reading { mask |= EPOLLIN.rawValue }
            if writing { mask |= EPOLLOUT.rawValue }
            set.modify(fileDescriptor, token: token, events: mask)
        }

        override func cancel() {
            guard !isCancelled else { return }
            isCancelled = true
            connection = nil
            if isRegistered { set.unwatch(self, fileDescriptor: fileDescriptor) }
            close(fileDescriptor)
        }

        /// Hands the events epoll reported to the connection. An error or hang-up is reported even
        /// for a socket nobody waits on; it goes to whichever handler is active, or closes the
        /// connection when none is (a level-triggered hang-up would otherwise be reported forever).
        func deliver(_ flags: UInt32) {
            guard let connection else { return }
            let failed = flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
            var handled = false
            if reading && (flags & EPOLLIN.rawValue != 0 || failed) {
                handled = true
                connection.handleReadable()
            }
            if !isCancelled && writing && (flags & EPOLLOUT.rawValue != 0 || failed) {
                handled = true
                connection.handleWritable()
            }
            if !isCancelled && failed && !handled {
                connection.handleHangUp()
            }
        }
    }
#endif
