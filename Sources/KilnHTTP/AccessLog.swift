import Logging

/// Writes one line per request through swift-log: method, path, status, bytes, duration.
///
/// The message is the human-readable line; the same fields are also attached as metadata so that
/// a structured (JSON) log handler prints them as fields.
public struct AccessLog: Sendable {
    public var logger: Logger
    public var isEnabled: Bool

    public init(logger: Logger, isEnabled: Bool = true) {
        self.logger = logger
        self.isEnabled = isEnabled
    }

    public func record(_ record: HTTPRequestRecord) {
        guard isEnabled else { return }
        let milliseconds = (record.duration * 1e5).rounded() / 100
        var metadata: Logger.Metadata = [
            "method": .string(record.method),
            "path": .string(record.path),
            "status": .stringConvertible(record.status),
            "bytes": .stringConvertible(record.responseBodyBytes),
            "duration_ms": .stringConvertible(milliseconds),
            "remote": .string(record.remoteAddress),
        ]
        if let reason = record.cancellation { metadata["cancelled"] = .string(reason.description) }
        logger.info("\(record.method) \(record.path) \(record.status) \(record.responseBodyBytes)B \(milliseconds)ms",
                    metadata: metadata)
    }
}
