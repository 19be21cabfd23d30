import Foundation
import KilnHTTP
import Logging

/// The text log lines of `kiln serve`, in the format of swift-log's `StreamLogHandler`
/// (`2026-11-29T02:43:06+0000 info kiln.access: bytes=15 method=GET … [KilnHTTP] GET /health …`),
/// written to stderr with one `write` per line.
///
/// Why not `StreamLogHandler` itself: it formats the local time with `strftime` for every line
/// and prettifies metadata through several intermediate collections, which made the access log
/// cost more than the request it describes. Here the timestamp is formatted once a second and
/// the line is built by appending.
struct TextLineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { fields.merge(provided) { $1 } }
        if let explicit = event.metadata, !explicit.isEmpty { fields.merge(explicit) { $1 } }
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var line = LogClock.shared.localTimestamp()
        line.reserveCapacity(160)
        line += " "
        line += event.level.rawValue
        if !label.isEmpty {
            line += " "
            line += label
        }
        line += ":"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += " "
            line += key
            line += "="
            line += value.description
        }
        line += " ["
        line += event.source
        line += "] "
        line += event.message.description
        line += "\n"
        StandardError.write(line)
    }
}

/// Whole lines to stderr, one at a time, so that lines from different threads never interleave.
enum StandardError {
    private static let lock = NSLock()

    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            lock.withLock {
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // stderr closed or full: logging must never stop the server
                    }
                }
            }
        }
    }
}

/// Log timestamps, formatted by `strftime` at most once a second per form.
// @unchecked Sendable: the cached second and its strings are read and written under `lock`.
final class LogClock: @unchecked Sendable {
    static let shared = LogClock()

    private let lock = NSLock()
    private var localSecond = Int.min
    private var localText = ""
    private var utcSecond = Int.min
    private var utcText = ""

    /// `2026-11-29T02:43:06+0000`: local time with its offset, as `StreamLogHandler` writes it.
    func localTimestamp() -> String {
        let now = time(nil)
        return lock.withLock {
            if Int(now) != localSecond {
                localText = Self.format(now, utc: false, "%Y-%m-%dT%H:%M:%S%z")
                localSecond = Int(now)
            }
            return localText
        }
    }

    /// `2026-11-29T02:43:06.058Z`: RFC 3339 in UTC with milliseconds.
    func utcTimestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let seconds = now.tv_sec
        let base: String = lock.withLock {
            if Int(seconds) != utcSecond {
                utcText = Self.format(seconds, utc: true, "%Y-%m-%dT%H:%M:%S")
                utcSecond = Int(seconds)
            }
            return utcText
        }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        return base + (milliseconds < 10 ? ".00" : milliseconds < 100 ? ".0" : ".") + String(milliseconds) + "Z"
    }

    private static func format(_ seconds: time_t, utc: Bool, _ pattern: String) -> String {
        var time = seconds
        var parts = tm()
        if utc { gmtime_r(&time, &parts) } else { localtime_r(&time, &parts) }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
