import Foundation
import KilnAPI
import KilnHTTP
import KilnJSON
import Logging
import Testing

/// The request id in the API's error bodies and in the lines the API logs about a request.
@Suite("Request ids in API errors")
struct RequestIDErrorTests {
    /// Keeps every record (with swift-log's value semantics for metadata) in a shared store.
    struct Recorder: LogHandler {
        final class Store: @unchecked Sendable {
            private let lock = NSLock()
            private var stored: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] = []
            func append(_ entry: (Logger.Level, String, Logger.Metadata)) { lock.withLock { stored.append(entry) } }
            var entries: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] { lock.withLock { stored } }
        }
        let store: Store
        var logLevel: Logger.Level = .debug
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            store.append((event.level, event.message.description, metadata.merging(event.metadata ?? [:]) { $1 }))
        }
    }

    @Test func theBodyCarriesTheIDAfterOpenAIsFields() throws {
        let error = APIError.invalid("bad", param: "n")
        #expect(
            error.body(requestID: "r-1").serialized
                == #"{"error":{"message":"bad","type":"invalid_request_error","param":"n","code":null,"request_id":"r-1"}}"#)
        #expect(error.response(requestID: "r-1").status == 400)
    }

    /// A text endpoint whose model is still loading answers 503: the body names the request's
    /// id, as the header does, and the API's error line carries it too.
    @Test func aServiceErrorIsAnsweredAndLoggedWithTheRequestID() throws {
        let store = Recorder.Store()
        let logger = Logger(label: "test.api") { _ in Recorder(store: store) }
        let router = Router()
        TextGenerationService.register(on: router, service: { nil })
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.ioQueueCount = 1
        let server = HTTPServer(
            configuration: configuration, logger: logger, accessLog: AccessLog(logger: logger), handler: router.handler)
        try server.start()
        defer { server.shutdownAndWait(gracePeriod: 0) }

        let output = try OpsEndpointsTests.curl([
            "-D", "-", "-H", "X-Request-ID: api-err-1", "-H", "Content-Type: application/json",
            "--data", #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            "http://127.0.0.1:\(server.port)/v1/chat/completions",
        ])
        let parts = output.components(separatedBy: "\r\n\r\n")
        let head = parts[0], body = parts.dropFirst().joined(separator: "\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 503"))
        #expect(head.lowercased().contains("x-request-id: api-err-1"))
        let parsed = try JSONParser().parse(body)
        #expect(parsed["error"]?["request_id"] == .string("api-err-1"))
        #expect(parsed["error"]?["code"] == .string("unavailable"))

        var failure: (level: Logger.Level, message: String, metadata: Logger.Metadata)?
        var access: (level: Logger.Level, message: String, metadata: Logger.Metadata)?
        for _ in 0..<100 {
            failure = store.entries.first { $0.message.hasPrefix("request failed") }
            access = store.entries.first { $0.metadata["path"] == .string("/v1/chat/completions") }
            if failure != nil && access != nil { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(failure?.level == .error)
        #expect(failure?.metadata["request_id"] == .string("api-err-1"))
        #expect(failure?.metadata["status"]?.description == "503")
        #expect(access?.metadata["request_id"] == .string("api-err-1"))
    }
}
