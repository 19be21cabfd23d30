import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        if readSuspended {
            readSource?.resume()
            readSuspended = false
        }
        if !writeResumed {
            writeSource?.resume()
            writeResumed = true
        }
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
