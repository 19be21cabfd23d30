import Dispatch
import Foundation
import KilnHTTP
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The event mechanisms (epoll threads on Linux, Dispatch sources everywhere) behave the same:
/// keep-alive, pipelining (with its output bound), answers from other threads, streams and
/// cancellation. The rest of the suite runs on the platform default.
@Suite("Event loops")
struct EventLoopTests {
    static let mechanisms = HTTPServerConfiguration.EventMechanism.allCases.filter(\.isAvailable)

    @Test(arguments: mechanisms)
    func keepAliveAndAnswersFromOtherThreads(mechanism: HTTPServerConfiguration.EventMechanism) throws {
        let server = try TestServer { $0.eventMechanism = mechanism }
        let client = try RawClient(port: server.port)
        for path in ["/health", "/later", "/items/7", "/health"] {
            client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.header("Connection") == nil)
        }
        client.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        #expect(client.readResponse()?.bodyText == "abcde")
        client.send("GET /events?n=3 HTTP/1.1\r\nHost: a\r\n\r\n")
        let stream = try #require(client.readResponse())
        #expect(stream.header("Content-Type") == "text/event-stream; charset=utf-8")
        #expect(stream.bodyText == "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n")
        // The connection is still usable after the stream.
        client.send("GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.bodyText == "{\"status\":\"ok\"}")
    }

    /// Thousands of pipelined requests sent before reading anything: responses are batched into
    /// few writes, yet parsing pauses once 256 KiB wait unsent and resumes as the client reads,
    /// so nothing stalls and every answer comes in order.
    @Test(arguments: mechanisms)
    func deepPipelineIsAnsweredInOrder(mechanism: HTTPServerConfiguration.EventMechanism) throws {
        let router = Router()
        router.get("/n/{index}") { request, responder in
            responder.respond(.json("{\"n\":\(request.pathParameters["index"] ?? "")}"))
        }
        let server = try TestServer(router: router) { $0.eventMechanism = mechanism }
        let client = try RawClient(port: server.port, timeout: 10)
        let count = 3000
        let requests = (0..<count).map { "GET /n/\($0) HTTP/1.1\r\nHost: a\r\n\r\n" }.joined()
        // Sent from another thread: the server's answers fill both socket buffers meanwhile.
        let sender = Thread { client.send(requests) }
        sender.start()
        Thread.sleep(forTimeInterval: 0.3)
        var received = 0
        while received < count, let response = client.readResponse() {
            guard response.bodyText == "{\"n\":\(received)}" else { break }
            received += 1
        }
        #expect(received == count)
    }

    @Test(arguments: mechanisms)
    func disconnectCancelsOnEitherMechanism(mechanism: HTTPServerConfiguration.EventMechanism) throws {
        let cancelled = DispatchSemaphore(value: 0)
        let reasons = ReasonBox()
        let router = Router()
        router.get("/hang") { _, responder in
            responder.cancellation.onCancel { reason in
                _ = responder
                reasons.set(reason)
                cancelled.signal()
            }
        }
        let server = try TestServer(router: router) { $0.eventMechanism = mechanism }
        var client: RawClient? = try RawClient(port: server.port)
        client?.send("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        client = nil
        #expect(cancelled.wait(timeout: .now() + 3) == .success)
        #expect(reasons.get() == .clientDisconnected)
    }

    #if os(Linux)
        /// A client that pipelined enough to pause reading, then reset the connection: epoll reports
        /// the hang-up even though nothing waits on the socket, and the pending request is cancelled
        /// at once instead of when its answer would have failed to send.
        @Test(arguments: mechanisms)
        func resetWhileReadingIsPausedCancelsThePendingRequest(mechanism: HTTPServerConfiguration.EventMechanism) throws {
            let cancelled = DispatchSemaphore(value: 0)
            let router = Router()
            router.get("/hang") { _, responder in
                responder.cancellation.onCancel { _ in
                    _ = responder
                    cancelled.signal()
                }
            }
            let server = try TestServer(router: router) {
                $0.eventMechanism = mechanism
                $0.parserLimits.maxHeaderBytes = 1024
            }
            var client: RawClient? = try RawClient(port: server.port)
            let pipelined = String(repeating: "GET /hang HTTP/1.1\r\nHost: a\r\n\r\n", count: 100)
            client?.send("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n" + pipelined)
            Thread.sleep(forTimeInterval: 0.2)
            // Linger 0: closing sends RST instead of FIN.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client!.descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            client = nil
            #expect(cancelled.wait(timeout: .now() + 3) == .success)
        }
    #endif

    @Test func dispatchIsTheDefaultAndAvailableEverywhere() {
        #expect(HTTPServerConfiguration.EventMechanism.dispatch.isAvailable)
        #expect(HTTPServerConfiguration.EventMechanism.platformDefault == .dispatch)
        #expect(HTTPServerConfiguration().eventMechanism == .dispatch)
        #if os(Linux)
            #expect(HTTPServerConfiguration.EventMechanism.epoll.isAvailable)
        #endif
    }
}
