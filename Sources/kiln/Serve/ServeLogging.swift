import Foundation
import KilnHTTP
import KilnJSON
import Logging

/// Log output for `kiln serve`: human-readable lines or one JSON object per line, on stderr.
enum ServeLogging {
    static func bootstrap(format: String, level: String) {
        let threshold = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: LogHandler =
                format == "json"
                ? JSONLineLogHandler(label: label)
                : TextLineLogHandler(label: label)
            handler.logLevel = threshold
            return handler
        }
    }
}

/// Writes each log record as one JSON object on stderr: `time`, `level`, `label`, `message`, then
/// the metadata as fields (numbers unquoted), for log collectors that parse JSON.
struct JSONLineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        if let error = event.error { fields["error"] = .string("\(error)") }
        var text =
            "{\"time\":\"\(LogClock.shared.utcTimestamp())\",\"level\":\"\(level.rawValue)\",\"label\":\(JSONValue.quoted(label)),"
            + "\"message\":\(JSONValue.quoted(message.description))"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            text += ",\(JSONValue.quoted(key)):\(Self.json(value))"
        }
        text += "}\n"
        StandardError.write(text)
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return JSONValue.quoted(text)
        case .stringConvertible(let convertible):
            let text = convertible.description
            if let number = Double(text), number.isFinite { return text }
            return JSONValue.quoted(text)
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            return "{"
                + dictionary.sorted { $0.key < $1.key }
                .map { "\(JSONValue.quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }
}
