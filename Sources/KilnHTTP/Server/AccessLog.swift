import Logging

/// Writes one line per request through swift-log: method, path, status, bytes, duration, and the
/// request's id (`request_id`, as in the response's `X-Request-ID`).
///
/// The message is the human-readable line; the same fields are also attached as metadata so that
/// a structured (JSON) log handler prints them as fields. This runs for every request, so the
/// line is assembled by appending, and the duration is rounded with integer arithmetic instead
/// of printing a `Double`.
public struct AccessLog: Sendable {
    public var logger: Logger
    public var isEnabled: Bool

    public init(logger: Logger, isEnabled: Bool = true) {
        self.logger = logger
        self.isEnabled = isEnabled
    }

    public func record(_ record: HTTPRequestRecord) {
        guard isEnabled, logger.logLevel <= .info else { return }
        let milliseconds = Milliseconds(seconds: record.duration)
        var message = record.method
        message.reserveCapacity(record.method.utf8.count + record.path.utf8.count + 32)
        message += " "
        message += record.path
        message += " "
        message += String(record.status)
        message += " "
        message += String(record.responseBodyBytes)
        message += "B "
        message += milliseconds.description
        message += "ms"
        var metadata: Logger.Metadata = [
            "method": .string(record.method),
            "path": .string(record.path),
            "status": .stringConvertible(record.status),
            "bytes": .stringConvertible(record.responseBodyBytes),
            "duration_ms": .stringConvertible(milliseconds),
            "remote": .string(record.remoteAddress),
            "request_id": .string(record.requestID),
        ]
        if let reason = record.cancellation { metadata["cancelled"] = .string(reason.description) }
        logger.info(Logger.Message(stringLiteral: message), metadata: metadata)
    }
}

/// A duration in milliseconds rounded to two decimals, printed as a `Double` would print the
/// rounded value (`0.05`, `1.5`, `12.0`), without converting through floating-point text.
struct Milliseconds: CustomStringConvertible, Sendable {
    /// Hundredths of a millisecond.
    let hundredths: Int

    init(seconds: Double) {
        let scaled = (seconds * 1e5).rounded()
        hundredths = scaled.isFinite ? Int(max(0, min(scaled, 1e15))) : 0
    }

    var description: String {
        let whole = hundredths / 100, fraction = hundredths % 100
        if fraction == 0 { return String(whole) + ".0" }
        if fraction % 10 == 0 { return String(whole) + "." + String(fraction / 10) }
        return String(whole) + (fraction < 10 ? ".0" : ".") + String(fraction)
    }
}
