import Foundation
import KilnHTTP
import Logging
import Testing

/// Keeps what is logged through it, for checking access-log lines.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    struct Entry {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let lock = NSLock()
    private var stored: [Entry] = []
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.lock()
        stored.append(
            Entry(
                level: event.level, message: event.message.description,
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
        lock.unlock()
    }

    var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

@Suite("Access log")
struct AccessLogTests {
    static func record(status: Int = 200, duration: Double, cancellation: CancellationReason? = nil) -> HTTPRequestRecord {
        HTTPRequestRecord(
            method: "GET", path: "/health", route: "/health", status: status, responseBodyBytes: 15,
            requestBodyBytes: 0, duration: duration, remoteAddress: "127.0.0.1:5000", streamed: false,
            cancellation: cancellation)
    }

    @Test(arguments: [
        (0.000_05, "0.05"), (0.0015, "1.5"), (0.012, "12.0"), (0.000_001, "0.0"), (0.000_104, "0.1"),
        (0.000_109, "0.11"), (2.5, "2500.0"), (0.012_346, "12.35"),
    ])
    func lineAndFields(duration: Double, milliseconds: String) {
        let handler = CapturingLogHandler()
        let log = AccessLog(logger: Logger(label: "test.access") { _ in handler })
        log.record(Self.record(duration: duration))
        let entry = handler.entries.first
        #expect(entry?.level == .info)
        #expect(entry?.message == "GET /health 200 15B \(milliseconds)ms")
        // The duration prints as the Double it stands for would, so JSON logs keep a number.
        #expect(entry?.metadata["duration_ms"]?.description == milliseconds)
        #expect(Double(milliseconds) == (duration * 1e5).rounded() / 100)
        #expect(entry?.metadata["status"]?.description == "200")
        #expect(entry?.metadata["bytes"]?.description == "15")
        #expect(entry?.metadata["method"] == .string("GET"))
        #expect(entry?.metadata["path"] == .string("/health"))
        #expect(entry?.metadata["remote"] == .string("127.0.0.1:5000"))
        #expect(entry?.metadata["cancelled"] == nil)
    }

    @Test func cancelledRequestsSayWhy() {
        let handler = CapturingLogHandler()
        let log = AccessLog(logger: Logger(label: "test.access") { _ in handler })
        log.record(Self.record(status: 499, duration: 0.2, cancellation: .clientDisconnected))
        #expect(handler.entries.first?.metadata["cancelled"] == .string("client disconnected"))
        #expect(handler.entries.first?.message == "GET /health 499 15B 200.0ms")
    }

    @Test func disabledOrFilteredLogsWriteNothing() {
        let handler = CapturingLogHandler()
        AccessLog(logger: Logger(label: "test.access") { _ in handler }, isEnabled: false)
            .record(Self.record(duration: 0.001))
        handler.logLevel = .warning
        AccessLog(logger: Logger(label: "test.access") { _ in handler }).record(Self.record(duration: 0.001))
        #expect(handler.entries.isEmpty)
    }
}
