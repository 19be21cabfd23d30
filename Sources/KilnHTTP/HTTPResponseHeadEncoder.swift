/// Writes a response's status line and header section.
///
/// Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`, `Date`) belong to the
/// connection: a handler's values for them are ignored, and a header whose name or value could
/// split the response (CR, LF, NUL) is dropped.
enum HTTPResponseHeadEncoder {
    static let framingHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "date",
                                              "keep-alive", "server"]

    static func encode(status: Int, headers: HTTPHeaders, extraHeaders: HTTPHeaders, contentLength: Int?,
                       chunked: Bool, keepAlive: Bool, requestVersion: HTTPVersion,
                       serverName: String?, dateLine: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        bytes.append(contentsOf: "HTTP/1.1 \(status) \(HTTPStatus.reasonPhrase(status))\r\n".utf8)
        // Vary may come from the handler, CORS and compression: sent once, as one list.
        var vary: [String] = []
        for field in headers where !collectVary(field, into: &vary) { appendField(field.name, field.value, to: &bytes) }
        for field in extraHeaders where !collectVary(field, into: &vary) { appendField(field.name, field.value, to: &bytes) }
        if !vary.isEmpty { appendField("Vary", vary.joined(separator: ", "), to: &bytes) }
        if let serverName { bytes.append(contentsOf: "Server: \(serverName)\r\n".utf8) }
        bytes.append(contentsOf: dateLine)
        if let contentLength {
            bytes.append(contentsOf: "Content-Length: \(contentLength)\r\n".utf8)
        } else if chunked {
            bytes.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if !keepAlive {
            bytes.append(contentsOf: "Connection: close\r\n".utf8)
        } else if requestVersion.minor == 0 {
            bytes.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        bytes.append(HTTPSyntax.cr)
        bytes.append(HTTPSyntax.lf)
        return bytes
    }

    private static func collectVary(_ field: HTTPHeaders.Element, into vary: inout [String]) -> Bool {
        guard HTTPHeaders.namesEqual(field.name, "Vary") else { return false }
        for part in field.value.split(separator: ",") {
            let token = HTTPHeaders.trimmed(part)
            if !token.isEmpty && !vary.contains(where: { $0.lowercased() == token.lowercased() }) { vary.append(token) }
        }
        return true
    }

    private static func appendField(_ name: String, _ value: String, to bytes: inout [UInt8]) {
        guard !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isToken),
              value.utf8.allSatisfy(HTTPSyntax.isFieldValue),
              !framingHeaders.contains(name.lowercased()) else { return }
        bytes.append(contentsOf: name.utf8)
        bytes.append(HTTPSyntax.colon)
        bytes.append(HTTPSyntax.space)
        bytes.append(contentsOf: value.utf8)
        bytes.append(HTTPSyntax.cr)
        bytes.append(HTTPSyntax.lf)
    }
}
