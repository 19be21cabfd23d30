import Foundation

/// The body of a streamed response; thread-safe, usable from any thread.
///
/// Each ``write(_:)`` becomes one chunk written to the socket at once. Writes after
/// ``finish()``, or after the client went away, are dropped: watch ``cancellation`` to stop
/// producing. A stream dropped without `finish()` finishes itself.
public final class HTTPResponseStream: @unchecked Sendable {
    private let connection: HTTPConnection
    private let exchange: HTTPConnection.Exchange
    private let lock = NSLock()
    private var finished = false

    /// Signalled when the client goes away before the stream finished.
    public let cancellation: RequestCancellation

    init(connection: HTTPConnection, exchange: HTTPConnection.Exchange) {
        self.connection = connection
        self.exchange = exchange
        self.cancellation = exchange.cancellation
    }

    deinit {
        if !finished {
            let connection = self.connection, exchange = self.exchange
            connection.loop.execute { connection.finishStream(for: exchange) }
        }
    }

    /// Whether ``finish()`` was called.
    public var isFinished: Bool { lock.withLock { finished } }

    /// Sends `bytes` as one chunk; empty writes are ignored.
    public func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, !isFinished else { return }
        let connection = self.connection, exchange = self.exchange
        connection.loop.execute { connection.writeStream(bytes, for: exchange) }
    }

    /// Sends `text` in UTF-8 as one chunk.
    public func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Ends the stream (the last chunk); the connection then serves its next request.
    public func finish() {
        let first: Bool = lock.withLock {
            defer { finished = true }
            return !finished
        }
        guard first else { return }
        let connection = self.connection, exchange = self.exchange
        connection.loop.execute { connection.finishStream(for: exchange) }
    }

    func markFinished() {
        lock.withLock { finished = true }
    }
}
