import Dispatch
import Foundation
import KilnHTTP
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A real server on a loopback port chosen by the kernel, so parallel tests never collide.
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    let router: Router
    var port: Int { server.port }

    init(
        router: Router = TestServer.standardRouter(), observer: HTTPServerObserver? = nil,
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.ioQueueCount = 2
        configuration.timerResolution = 0.05
        configuration.lingerTimeout = 0.5
        configure(&configuration)
        var logger = Logger(label: "test.http")
        logger.logLevel = .critical
        self.router = router
        server = HTTPServer(configuration: configuration, logger: logger, observer: observer, handler: router.handler)
        try server.start()
    }

    deinit {
        server.shutdownAndWait(gracePeriod: 0)
    }

    /// Routes most tests use: `/health`, an echo of the body, a streaming endpoint, a slow one.
    static func standardRouter(cors: CORSPolicy = .disabled, authenticator: APIKeyAuthenticator? = nil) -> Router {
        let router = Router(cors: cors, authenticator: authenticator)
        router.get("/health", access: .public) { _, responder in
            responder.respond(.json("{\"status\":\"ok\"}"))
        }
        router.post("/echo") { request, responder in
            responder.respond(
                HTTPResponse(
                    status: 200, headers: ["Content-Type": "application/octet-stream"],
                    body: request.body))
        }
        router.get("/items/{id}") { request, responder in
            responder.respond(.json("{\"id\":\"\(request.pathParameters["id"] ?? "")\"}"))
        }
        router.get("/no-content") { _, responder in
            responder.respond(HTTPResponse(status: 204, headers: ["X-Test": "1"], body: Array("ignored".utf8)))
        }
        router.get("/not-modified") { _, responder in
            responder.respond(HTTPResponse(status: 304, body: Array("ignored".utf8)))
        }
        router.get("/later") { _, responder in
            // Answers from another thread after a while, as an inference engine would.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) {
                responder.respond(.json("{\"late\":true}"))
            }
        }
        router.get("/events") { request, responder in
            let count = Int(request.head.query?.split(separator: "=").last ?? "3") ?? 3
            let events = responder.startEventStream()
            let producer = DispatchQueue(label: "test.events")
            for index in 0..<count {
                producer.asyncAfter(deadline: .now() + .milliseconds(20 * (index + 1))) {
                    events.send(data: "{\"n\":\(index)}")
                }
            }
            producer.asyncAfter(deadline: .now() + .milliseconds(20 * (count + 1))) {
                events.send(data: "[DONE]")
                events.finish()
            }
        }
        return router
    }
}

/// A blocking client socket with a receive timeout, for sending exactly the bytes a test wants.
final class RawClient {
    let descriptor: Int32

    init(port: Int, timeout: Double = 5) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(descriptor)
            throw TestFailure("connect failed: errno \(errno)")
        }
        setTimeout(timeout)
    }

    deinit { Glibc.close(descriptor) }

    func setTimeout(_ seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Reads until the peer closes or the timeout passes; `closed` tells which.
    func readUntilClose() -> (bytes: [UInt8], closed: Bool) {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                result.append(contentsOf: buffer[0..<count])
                continue
            }
            if count == 0 { return (result, true) }
            if errno == EINTR { continue }
            // ECONNRESET also means the server closed it, but not gracefully.
            return (result, errno == ECONNRESET ? true : false)
        }
    }

    private var pending: [UInt8] = []

    /// Reads one response (head, then a body framed by Content-Length or chunked), or nil on
    /// timeout or close before it was complete.
    func readResponse(isHead: Bool = false) -> ParsedResponse? {
        while true {
            if let (response, used) = ParsedResponse.parse(pending, isHead: isHead) {
                pending.removeFirst(used)
                return response
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            pending.append(contentsOf: buffer[0..<count])
        }
    }

    /// Whether the server closed the connection (EOF within `timeout`).
    func isClosedByPeer(within timeout: Double = 2) -> Bool {
        setTimeout(timeout)
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno == ECONNRESET)
    }
}

/// A response read off the wire.
struct ParsedResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Parses one response at the start of `bytes`; returns it and the bytes it used.
    static func parse(_ bytes: [UInt8], isHead: Bool = false) -> (ParsedResponse, Int)? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let headText = String(decoding: bytes[0..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers: [(String, String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = ParsedResponse(status: status, headers: headers, body: [])
        var cursor = headEnd + 4
        if (100..<200).contains(status) || status == 204 || status == 304 || isHead {
            return (response, cursor)
        }
        if let length = response.header("Content-Length").flatMap(Int.init) {
            guard bytes.count - cursor >= length else { return nil }
            response.body = Array(bytes[cursor..<(cursor + length)])
            return (response, cursor + length)
        }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                guard let lineEnd = find([13, 10], in: bytes, from: cursor) else { return nil }
                let sizeText = String(decoding: bytes[cursor..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText, radix: 16) else { return nil }
                cursor = lineEnd + 2
                if size == 0 {
                    guard bytes.count >= cursor + 2 else { return nil }
                    return (response, cursor + 2)
                }
                guard bytes.count >= cursor + size + 2 else { return nil }
                response.body.append(contentsOf: bytes[cursor..<(cursor + size)])
                cursor += size + 2
            }
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
