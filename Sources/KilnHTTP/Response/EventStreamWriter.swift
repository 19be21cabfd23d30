/// Writes Server-Sent Events (the `text/event-stream` format of the HTML standard) onto a
/// streamed response, one chunk and one socket write per event. Thread-safe.
public final class EventStreamWriter: @unchecked Sendable {
    /// The stream underneath.
    public let stream: HTTPResponseStream

    init(stream: HTTPResponseStream) {
        self.stream = stream
    }

    /// Signalled when the client goes away.
    public var cancellation: RequestCancellation { stream.cancellation }

    /// Sends one event; multi-line `data` becomes several `data:` lines, as the format requires.
    public func send(data: String, event: String? = nil, id: String? = nil) {
        stream.write(Self.frame(data: data, event: event, id: id))
    }

    /// Ends the stream.
    public func finish() {
        stream.finish()
    }

    /// The bytes of one event.
    public static func frame(data: String, event: String? = nil, id: String? = nil) -> [UInt8] {
        var text = ""
        if let event { text += "event: \(singleLine(event))\n" }
        if let id { text += "id: \(singleLine(id))\n" }
        var lines: [Substring] = []
        var current = Substring(data)
        // Split on CRLF, CR and LF alike: all three end a line in an event stream.
        while let breakIndex = current.firstIndex(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            lines.append(current[..<breakIndex])
            current = current[current.index(after: breakIndex)...]
        }
        lines.append(current)
        for line in lines { text += "data: \(line)\n" }
        text += "\n"
        return Array(text.utf8)
    }

    private static func singleLine(_ text: String) -> String {
        String(text.filter { $0 != "\n" && $0 != "\r" && $0 != "\r\n" })
    }
}
