import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An event loop on one serial Dispatch queue, with a read and a write source per connection.
///
/// Portable, and the only mechanism off Linux. On Linux each socket event costs Dispatch a hop
/// from its epoll thread to a worker thread and two `epoll_ctl` calls to disarm and re-arm the
/// source, which is why ``EpollIOLoop`` is the default there (see Docs/benchmarks.md).
final class DispatchIOLoop: IOLoop, @unchecked Sendable {
    private static let identityKey = DispatchSpecificKey<Int>()

    let queue: DispatchQueue
    private var sweepTimer: DispatchSourceTimer?

    init(label: String) {
        queue = DispatchQueue(label: label)
        super.init()
        queue.setSpecific(key: Self.identityKey, value: identity)
    }

    deinit {
        sweepTimer?.cancel()
    }

    override var isCurrent: Bool { DispatchQueue.getSpecific(key: Self.identityKey) == identity }

    override func execute(_ work: @escaping @Sendable () -> Void) {
        if isCurrent { work() } else { queue.async(execute: work) }
    }

    override func watch(_ fileDescriptor: Int32, for connection: HTTPConnection) -> SocketWatch {
        DispatchSocketWatch(fileDescriptor: fileDescriptor, queue: queue, connection: connection)
    }

    override func start(sweepInterval interval: Double) throws(SocketError) {
        queue.async { [self] in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let nanoseconds = Int(max(interval, 0.01) * 1e9)
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                           leeway: .nanoseconds(nanoseconds / 10))
            timer.setEventHandler { [unowned self] in sweep() }
            timer.resume()
            sweepTimer = timer
        }
    }

    override func stop() {
        execute { [self] in
            sweepTimer?.cancel()
            sweepTimer = nil
        }
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

    init(fileDescriptor: Int32, queue: DispatchQueue, connection: HTTPConnection) {
        self.fileDescriptor = fileDescriptor
        super.init()
        let read = DispatchSource.makeReadSource(fileDescriptor: fileDescriptor, queue: queue)
        // Strong captures: the sources keep the connection alive until both are cancelled and the
        // descriptor is closed; Dispatch drops the handlers after cancellation, ending the cycle.
        read.setEventHandler { connection.handleReadable() }
        read.setCancelHandler { self.sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: fileDescriptor, queue: queue)
        write.setEventHandler { connection.handleWritable() }
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
