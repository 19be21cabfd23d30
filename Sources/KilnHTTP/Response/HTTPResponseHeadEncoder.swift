/// Writes a response's status line and header section.
///
/// Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`, `Date`) belong to the
/// connection: a handler's values for them are ignored, and a header whose name or value could
/// split the response (CR, LF, NUL) is dropped.
///
/// It appends to a buffer the connection reuses, byte by byte, without building strings: this
/// runs once per response.
enum HTTPResponseHeadEncoder {
    /// What the connection adds to the handler's headers.
    struct Framing {
        var contentLength: Int?
        var chunked = false
        var keepAlive = true
        var requestVersion = HTTPVersion.http1_1
        /// Whether the coding depended on `Accept-Encoding` (compressible types): adds it to `Vary`.
        var varyOnAcceptEncoding = false
    }

    static func encode(
        into bytes: inout [UInt8], status: Int, headers: HTTPHeaders, extraHeaders: HTTPHeaders,
        framing: Framing, serverLine: [UInt8]?, dateLine: [UInt8]
    ) {
        if status == 200 {
            appendASCII("HTTP/1.1 200 OK\r\n", to: &bytes)  // most responses: one copy
        } else {
            appendASCII("HTTP/1.1 ", to: &bytes)
            appendDecimal(status, to: &bytes)
            bytes.append(HTTPSyntax.space)
            appendString(HTTPStatus.reasonPhrase(status), to: &bytes)
            appendLineEnd(to: &bytes)
        }
        // Vary may come from the handler, CORS and compression: sent once, as one list.
        let hasVaryField = headers.contains(name: "Vary") || extraHeaders.contains(name: "Vary")
        for field in headers where !(hasVaryField && HTTPHeaders.namesEqual(field.name, "Vary")) {
            appendField(field.name, field.value, to: &bytes)
        }
        for field in extraHeaders where !(hasVaryField && HTTPHeaders.namesEqual(field.name, "Vary")) {
            appendField(field.name, field.value, to: &bytes)
        }
        if hasVaryField {
            var vary: [String] = []
            collectVary(headers, into: &vary)
            if framing.varyOnAcceptEncoding { addVaryToken("Accept-Encoding", to: &vary) }
            collectVary(extraHeaders, into: &vary)
            if !vary.isEmpty { appendField("Vary", vary.joined(separator: ", "), to: &bytes) }
        } else if framing.varyOnAcceptEncoding {
            appendASCII("Vary: Accept-Encoding\r\n", to: &bytes)
        }
        if let serverLine { bytes.append(contentsOf: serverLine) }
        bytes.append(contentsOf: dateLine)
        if let contentLength = framing.contentLength {
            appendASCII("Content-Length: ", to: &bytes)
            appendDecimal(contentLength, to: &bytes)
            appendLineEnd(to: &bytes)
        } else if framing.chunked {
            appendASCII("Transfer-Encoding: chunked\r\n", to: &bytes)
        }
        if !framing.keepAlive {
            appendASCII("Connection: close\r\n", to: &bytes)
        } else if framing.requestVersion.minor == 0 {
            appendASCII("Connection: keep-alive\r\n", to: &bytes)
        }
        appendLineEnd(to: &bytes)
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

    private static func appendField(_ name: String, _ value: String, to bytes: inout [UInt8]) {
        // The field almost every response carries, known valid: one copy of a constant instead
        // of checking and copying name and value byte by byte (about 800 instructions).
        if name == "Content-Type" && value == "application/json" {
            appendASCII("Content-Type: application/json\r\n", to: &bytes)
            return
        }
        guard !name.isEmpty, allBytes(of: name, satisfy: HTTPSyntax.isToken),
            allBytes(of: value, satisfy: HTTPSyntax.isFieldValue),
            !isFramingHeader(name)
        else { return }
        appendString(name, to: &bytes)
        bytes.append(HTTPSyntax.colon)
        bytes.append(HTTPSyntax.space)
        appendString(value, to: &bytes)
        appendLineEnd(to: &bytes)
    }

    @inline(__always)
    private static func allBytes(of text: String, satisfy predicate: (UInt8) -> Bool) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            for byte in bytes where !predicate(byte) { return false }
            return true
        }
    }

    /// Appends a constant: a copy of its bytes, without going through a string's view.
    @inline(__always)
    private static func appendASCII(_ text: StaticString, to bytes: inout [UInt8]) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func appendString(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func appendLineEnd(to bytes: inout [UInt8]) {
        bytes.append(HTTPSyntax.cr)
        bytes.append(HTTPSyntax.lf)
    }

    /// Appends `value` in decimal.
    static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendDecimal(UInt(value.magnitude), to: &bytes)
        } else {
            appendDecimal(UInt(value), to: &bytes)
        }
    }

    private static func appendDecimal(_ value: UInt, to bytes: inout [UInt8]) {
        var divisor: UInt = 1
        while value / divisor >= 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
