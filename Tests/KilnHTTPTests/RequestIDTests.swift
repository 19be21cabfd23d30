import Foundation
import KilnHTTP
import Logging
import Testing

/// A log handler with swift-log's value semantics (metadata set on a copy stays on the copy) that
/// keeps every record in a shared store, for checking which lines carry a request's id.
struct RecordingLogHandler: LogHandler {
    final class Store: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [CapturingLogHandler.Entry] = []

        func append(_ entry: CapturingLogHandler.Entry) { lock.withLock { stored.append(entry) } }
        var entries: [CapturingLogHandler.Entry] { lock.withLock { stored } }
    }

    let store: Store
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(
            .init(
                level: event.level, message: event.message.description,
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// `X-Request-ID`: taken from the client when well-formed, made otherwise; on every response,
/// in error bodies, in the access log and in the lines a handler logs through its responder.
@Suite("Request ids")
struct RequestIDTests {
    final class Fixture {
        let store = RecordingLogHandler.Store()
        let server: HTTPServer

        init(configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
            let router = TestServer.standardRouter(authenticator: APIKeyAuthenticator(keys: ["sk-test"]))
            router.get("/logs", access: .public) { _, responder in
                responder.logger.info("handler line")
                responder.respond(.json("{\"id\":\"\(responder.requestID)\"}"))
            }
            router.get("/forgets", access: .public) { _, _ in }
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.ioQueueCount = 2
            configuration.timerResolution = 0.05
            configuration.lingerTimeout = 0.2
            configuration.parserLimits.maxBodyBytes = 64
            configuration.parserLimits.maxHeaderBytes = 2048
            configure(&configuration)
            let store = self.store
            let logger = Logger(label: "test.request-id") { _ in RecordingLogHandler(store: store) }
            server = HTTPServer(
                configuration: configuration, logger: logger, accessLog: AccessLog(logger: logger),
                handler: router.handler)
            try server.start()
        }

        deinit { server.shutdownAndWait(gracePeriod: 0) }

        func exchange(_ request: String) throws -> ParsedResponse {
            let client = try RawClient(port: server.port)
            client.setTimeout(5)
            #expect(client.send(request))
            guard let response = client.readResponse() else { throw TestFailure("no response to \(request.prefix(40))") }
            return response
        }

        func get(_ path: String, id: String? = nil, extra: String = "") throws -> ParsedResponse {
            let field = id.map { "X-Request-ID: \($0)\r\n" } ?? ""
            return try exchange("GET \(path) HTTP/1.1\r\nHost: t\r\n\(field)\(extra)Connection: close\r\n\r\n")
        }

        /// The access log line's `request_id` for `path`, once logged (it follows the response).
        func accessLogID(path: String) -> String? {
            for _ in 0..<100 {
                let line = store.entries.last { $0.metadata["path"] == .string(path) && $0.metadata["status"] != nil }
                if let line, case .string(let id) = line.metadata["request_id"] { return id }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }
    }

    static func isGenerated(_ id: String?) -> Bool {
        guard let id, id.utf8.count == 15 else { return false }
        return id.utf8.allSatisfy {
            RequestID.isWellFormed(String(UnicodeScalar($0)), maxBytes: 1) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: ":")
        }
    }

    static func errorRequestID(_ response: ParsedResponse) throws -> String? {
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return (body?["error"] as? [String: Any])?["request_id"] as? String
    }

    @Test(arguments: ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "req_01J9:trace.7-x", String(repeating: "a", count: 128)])
    func aWellFormedIDIsEchoed(id: String) throws {
        let fixture = try Fixture()
        let response = try fixture.get("/health", id: id)
        #expect(response.status == 200)
        #expect(response.header("X-Request-ID") == id)
        #expect(response.headers.filter { $0.0.lowercased() == "x-request-id" }.count == 1)
        #expect(fixture.accessLogID(path: "/health") == id)
    }

    @Test(arguments: [
        String(repeating: "a", count: 129), "two words", "quote\"d", "a=b", "semi;colon", "slash/path", "tab\there",
        "caf\u{E9}",
    ])
    func aMalformedIDIsReplaced(id: String) throws {
        let fixture = try Fixture()
        let response = try fixture.get("/health", id: id)
        #expect(response.status == 200)
        let echoed = response.header("X-Request-ID")
        #expect(echoed != id)
        #expect(Self.isGenerated(echoed))
        #expect(fixture.accessLogID(path: "/health") == echoed)
    }

    @Test func theLengthLimitIsASetting() throws {
        let fixture = try Fixture { $0.maxRequestIDBytes = 8 }
        #expect(try fixture.get("/health", id: "12345678").header("X-Request-ID") == "12345678")
        #expect(Self.isGenerated(try fixture.get("/health", id: "123456789").header("X-Request-ID")))
    }

    @Test func generatedIDsArePresentAndUnique() throws {
        let fixture = try Fixture()
        let client = try RawClient(port: fixture.server.port)
        client.setTimeout(5)
        var seen = Set<String>()
        for _ in 0..<300 {
            #expect(client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n"))
            let id = try #require(client.readResponse()?.header("X-Request-ID"))
            #expect(Self.isGenerated(id))
            seen.insert(id)
        }
        #expect(seen.count == 300)
        // And across connections (each event loop has its own generator).
        for _ in 0..<20 { seen.insert(try #require(try fixture.get("/health").header("X-Request-ID"))) }
        #expect(seen.count == 320)
    }

    @Test func errorsOfTheRouterCarryTheIDInHeaderAndBody() throws {
        let fixture = try Fixture()
        for (path, status, extra) in [
            ("/nowhere", 404, ""), ("/items/1", 401, ""), ("/items/1", 401, "Authorization: Bearer wrong\r\n"),
        ] {
            let response = try fixture.get(path, id: "client-7", extra: extra)
            #expect(response.status == status)
            #expect(response.header("X-Request-ID") == "client-7")
            #expect(try Self.errorRequestID(response) == "client-7")
        }
        let wrongMethod = try fixture.exchange(
            "DELETE /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: m-1\r\nConnection: close\r\n\r\n")
        #expect(wrongMethod.status == 405)
        #expect(try Self.errorRequestID(wrongMethod) == "m-1")
        let forgotten = try fixture.get("/forgets", id: "f-1")
        #expect(forgotten.status == 500)
        #expect(forgotten.header("X-Request-ID") == "f-1")
        #expect(try Self.errorRequestID(forgotten) == "f-1")
    }

    @Test func errorsOfTheConnectionCarryAnID() throws {
        let fixture = try Fixture()
        // 413 after the head was read: the client's id.
        let tooLarge = try fixture.exchange(
            "POST /echo HTTP/1.1\r\nHost: t\r\nX-Request-ID: big-1\r\nContent-Length: 1000\r\n\r\n")
        #expect(tooLarge.status == 413)
        #expect(tooLarge.header("X-Request-ID") == "big-1")
        #expect(try Self.errorRequestID(tooLarge) == "big-1")
        #expect(fixture.accessLogID(path: "/echo") == "big-1")
        // 431 and 400: no head to take an id from, so a generated one, the same in header and body.
        let padding = String(repeating: "x", count: 4000)
        for (request, status) in [
            ("GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: lost\r\nX-Pad: \(padding)\r\n\r\n", 431),
            ("GET /health HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\nX-Request-ID: lost\r\n\r\n", 400),
        ] {
            let response = try fixture.exchange(request)
            #expect(response.status == status)
            let id = response.header("X-Request-ID")
            #expect(Self.isGenerated(id))
            #expect(try Self.errorRequestID(response) == id)
        }
    }

    @Test func eventStreamsAndEmptyResponsesCarryTheID() throws {
        let fixture = try Fixture()
        let events = try fixture.get("/events?n=2", id: "sse-1", extra: "Authorization: Bearer sk-test\r\n")
        #expect(events.status == 200)
        #expect(events.header("Content-Type")?.hasPrefix("text/event-stream") == true)
        #expect(events.header("X-Request-ID") == "sse-1")
        let empty = try fixture.get("/no-content", id: "e-1", extra: "Authorization: Bearer sk-test\r\n")
        #expect(empty.status == 204)
        #expect(empty.header("X-Request-ID") == "e-1")
    }

    @Test func handlerLogLinesCarryTheID() throws {
        let fixture = try Fixture()
        let response = try fixture.get("/logs", id: "log-1")
        #expect(response.bodyText == "{\"id\":\"log-1\"}")
        #expect(fixture.accessLogID(path: "/logs") == "log-1")
        let lines = fixture.store.entries.filter { $0.message == "handler line" }
        #expect(lines.count == 1)
        #expect(lines.first?.metadata["request_id"] == .string("log-1"))
        // The server's own logger is not changed by a request's logger.
        #expect(fixture.store.entries.filter { $0.message == "listening" }.allSatisfy { $0.metadata["request_id"] == nil })
    }

    @Test func wellFormednessRules() {
        #expect(RequestID.isWellFormed("a", maxBytes: 1))
        #expect(!RequestID.isWellFormed("", maxBytes: 10))
        #expect(!RequestID.isWellFormed("ab", maxBytes: 1))
        #expect(RequestID.isWellFormed("AZaz09._:-", maxBytes: 128))
        for bad in [" ", "\u{0}", "\r", "\n", "+", "/", "=", "\"", "'", "<", "{", "%", "\u{7F}", "\u{E9}"] {
            #expect(!RequestID.isWellFormed("id" + bad, maxBytes: 128), "\(bad.debugDescription)")
        }
    }
}
