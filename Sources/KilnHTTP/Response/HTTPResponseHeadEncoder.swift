/// Writes a response's status line and header section.
///
/// Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`, `Date`) and
/// `X-Request-ID` belong to the connection: a handler's values for them are ignored, and a header whose name or value could
/// split the response (CR, LF, NUL) is dropped.
///
/// This runs once per response, so it builds no strings: the head is written through a pointer
/// into stack memory (``Writer``) and appended to the connection's buffer with one copy, where
/// appending piece by piece cost a capacity check and a call per piece.
enum HTTPResponseHeadEncoder {
    /// What the connection adds to the handler's headers.
    struct Framing {
        var contentLength: Int?
        var chunked = false
        var keepAlive = true
        var requestVersion = HTTPVersion.http1_1
        /// Whether the coding depended on `Accept-Encoding` (compressible types): adds it to `Vary`.
        var varyOnAcceptEncoding = false
        /// The request's id, sent as `X-Request-ID` (already checked or made by ``RequestID``).
        var requestID: RequestID?
    }

    /// Stack space for a head; a larger one (long handler headers) is written again into a heap
    /// buffer of the size the first pass counted.
    static let stackCapacity = 1024

    static func encode(
        into bytes: inout [UInt8], status: Int, headers: HTTPHeaders, extraHeaders: HTTPHeaders,
        framing: Framing, serverLine: [UInt8]?, dateLine: [UInt8]
    ) {
        var needed = stackCapacity
        while true {
            let written = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: needed) { buffer in
                var writer = Writer(buffer)
                writeHead(
                    to: &writer, status: status, headers: headers, extraHeaders: extraHeaders, framing: framing,
                    serverLine: serverLine, dateLine: dateLine)
                if writer.count <= buffer.count {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<writer.count]))
                }
                return writer.count
            }
            if written <= needed { return }
            needed = written
        }
    }

    private static func writeHead(
        to writer: inout Writer, status: Int, headers: HTTPHeaders, extraHeaders: HTTPHeaders,
        framing: Framing, serverLine: [UInt8]?, dateLine: [UInt8]
    ) {
        if status == 200 {
            writer.write("HTTP/1.1 200 OK\r\n")  // most responses
        } else {
            writer.write("HTTP/1.1 ")
            writer.writeDecimal(status)
            writer.write(HTTPSyntax.space)
            writer.write(HTTPStatus.reasonPhrase(status))
            writer.write("\r\n")
        }
        // Vary may come from the handler, CORS and compression: sent once, as one list.
        let hasVaryField = headers.contains(name: "Vary") || extraHeaders.contains(name: "Vary")
        for field in headers where !(hasVaryField && HTTPHeaders.namesEqual(field.name, "Vary")) {
            writeField(field.name, field.value, to: &writer)
        }
        for field in extraHeaders where !(hasVaryField && HTTPHeaders.namesEqual(field.name, "Vary")) {
            writeField(field.name, field.value, to: &writer)
        }
        if hasVaryField {
            var vary: [String] = []
            collectVary(headers, into: &vary)
            if framing.varyOnAcceptEncoding { addVaryToken("Accept-Encoding", to: &vary) }
            collectVary(extraHeaders, into: &vary)
            if !vary.isEmpty { writeField("Vary", vary.joined(separator: ", "), to: &writer) }
        } else if framing.varyOnAcceptEncoding {
            writer.write("Vary: Accept-Encoding\r\n")
        }
        if let requestID = framing.requestID {
            writer.write("X-Request-ID: ")
            requestID.write(to: &writer)
            writer.write("\r\n")
        }
        if let serverLine { writer.write(serverLine) }
        writer.write(dateLine)
        if let contentLength = framing.contentLength {
            writer.write("Content-Length: ")
            writer.writeDecimal(contentLength)
            writer.write("\r\n")
        } else if framing.chunked {
            writer.write("Transfer-Encoding: chunked\r\n")
        }
        if !framing.keepAlive {
            writer.write("Connection: close\r\n")
        } else if framing.requestVersion.minor == 0 {
            writer.write("Connection: keep-alive\r\n")
        }
        writer.write("\r\n")
    }

    /// `Server: name\r\n`, made once per server.
    static func serverLine(for name: String?) -> [UInt8]? {
        guard let name, !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isFieldValue) else { return nil }
        return Array("Server: \(name)\r\n".utf8)
    }

    /// The header names the connection owns, whatever the handler says.
    static func isFramingHeader(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: return HTTPHeaders.namesEqual(name, "Date")
        case 6: return HTTPHeaders.namesEqual(name, "Server")
        case 10: return HTTPHeaders.namesEqual(name, "Connection") || HTTPHeaders.namesEqual(name, "Keep-Alive")
        case 12: return HTTPHeaders.namesEqual(name, RequestID.headerName)
        case 14: return HTTPHeaders.namesEqual(name, "Content-Length")
        case 17: return HTTPHeaders.namesEqual(name, "Transfer-Encoding")
        default: return false
        }
    }

    private static func collectVary(_ headers: HTTPHeaders, into vary: inout [String]) {
        for field in headers where HTTPHeaders.namesEqual(field.name, "Vary") {
            for part in field.value.split(separator: ",") { addVaryToken(HTTPHeaders.trimmed(part), to: &vary) }
        }
    }

    private static func addVaryToken(_ token: String, to vary: inout [String]) {
        if !token.isEmpty && !vary.contains(where: { HTTPHeaders.namesEqual($0, token) }) { vary.append(token) }
    }

    private static func writeField(_ name: String, _ value: String, to writer: inout Writer) {
        // The field almost every response carries, known valid: one copy of a constant instead
        // of checking name and value byte by byte.
        if name == "Content-Type" && value == "application/json" {
            writer.write("Content-Type: application/json\r\n")
            return
        }
        guard !name.isEmpty, allBytes(of: name, satisfy: HTTPSyntax.isToken),
            allBytes(of: value, satisfy: HTTPSyntax.isFieldValue),
            !isFramingHeader(name)
        else { return }
        writer.write(name)
        writer.write(HTTPSyntax.colon)
        writer.write(HTTPSyntax.space)
        writer.write(value)
        writer.write("\r\n")
    }

    @inline(__always)
    private static func allBytes(of text: String, satisfy predicate: (UInt8) -> Bool) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            for byte in bytes where !predicate(byte) { return false }
            return true
        }
    }

    /// Writes through a pointer into a fixed buffer. Past its end it only counts, so that the
    /// caller learns the size a second pass needs.
    struct Writer {
        private let base: UnsafeMutablePointer<UInt8>
        private let capacity: Int
        /// Bytes written, or that would have been written past the end.
        private(set) var count = 0

        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
            base = buffer.baseAddress!
            capacity = buffer.count
        }

        @inline(__always)
        mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
            if count + bytes.count <= capacity, let source = bytes.baseAddress {
                (base + count).update(from: source, count: bytes.count)
            }
            count += bytes.count
        }

        @inline(__always)
        mutating func write(_ byte: UInt8) {
            if count < capacity { base[count] = byte }
            count += 1
        }

        @inline(__always)
        mutating func write(_ text: StaticString) {
            text.withUTF8Buffer { write($0) }
        }

        @inline(__always)
        mutating func write(_ text: String) {
            var text = text
            text.withUTF8 { write($0) }
        }

        @inline(__always)
        mutating func write(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { write($0) }
        }

        /// Writes `value` in decimal.
        mutating func writeDecimal(_ value: Int) {
            if value < 0 { write(UInt8(ascii: "-")) }
            var rest = value.magnitude
            var divisor: UInt = 1
            while rest / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                write(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
    }
}
