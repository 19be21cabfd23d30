import Dispatch
import Foundation
import KilnHTTP
import Testing

/// Pipelining, streaming, cancellation and bodiless statuses on raw sockets.
@Suite("Connection behaviour")
struct ConnectionBehaviourTests {
    @Test func pipelinedResponsesComeInRequestOrder() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        // The first answer comes 200 ms later from another thread; the others at once.
        client.send(
            "GET /later HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                + "GET /items/42 HTTP/1.1\r\nHost: a\r\n\r\n")
        let bodies = (0..<4).compactMap { _ in client.readResponse()?.bodyText }
        #expect(bodies == ["{\"late\":true}", "{\"status\":\"ok\"}", "hello", "{\"id\":\"42\"}"])
    }

    @Test func bodilessStatusesKeepTheConnectionUsable() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        client.send("GET /no-content HTTP/1.1\r\nHost: a\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        client.setTimeout(2)
        let first = try #require(client.readResponse())
        #expect(first.status == 204)
        #expect(first.header("Content-Length") == nil)
        #expect(first.header("X-Test") == "1")
        let second = try #require(client.readResponse())
        #expect(second.status == 304)
        let third = try #require(client.readResponse())
        #expect(third.status == 200)
        #expect(third.bodyText == "{\"status\":\"ok\"}")
    }

    @Test func http10KeepAliveIsHonouredWhenAsked() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        client.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.header("Connection") == "keep-alive")
        client.send("GET /health HTTP/1.0\r\n\r\n")
        let second = try #require(client.readResponse())
        #expect(second.header("Connection") == "close")
        #expect(client.isClosedByPeer())
    }

    @Test func headResponseHasNoBody() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        client.send("HEAD /health HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try #require(client.readResponse(isHead: true))
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "15")
        let get = try #require(client.readResponse())
        #expect(get.bodyText == "{\"status\":\"ok\"}")
    }

    @Test func eachEventIsFlushedWhenSent() throws {
        let router = Router()
        router.get("/slow-events") { _, responder in
            let events = responder.startEventStream()
            events.send(data: "first")
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(700)) {
                events.send(data: "second")
                events.finish()
            }
        }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        let start = Date()
        client.send("GET /slow-events HTTP/1.1\r\nHost: a\r\n\r\n")
        // The first event must arrive alone, long before the second exists.
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains("data: first\n\n") {
            let count = buffer.withUnsafeMutableBytes { recv(client.descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        let firstArrival = Date().timeIntervalSince(start)
        #expect(String(decoding: received, as: UTF8.self).hasSuffix("data: first\n\n\r\n"))
        #expect(firstArrival < 0.5)
    }

    @Test func disconnectCancelsAPendingRequest() throws {
        let cancelled = DispatchSemaphore(value: 0)
        let reasons = ReasonBox()
        let router = Router()
        router.get("/hang") { _, responder in
            // Holding the responder is what keeps a request pending (as a queued job would).
            responder.cancellation.onCancel { reason in
                _ = responder
                reasons.set(reason)
                cancelled.signal()
            }
        }
        let server = try TestServer(router: router)
        var client: RawClient? = try RawClient(port: server.port)
        client?.send("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        client = nil  // closes the socket
        #expect(cancelled.wait(timeout: .now() + 3) == .success)
        #expect(reasons.get() == .clientDisconnected)
    }

    @Test func disconnectCancelsAStream() throws {
        let cancelled = DispatchSemaphore(value: 0)
        let router = Router()
        router.get("/endless") { _, responder in
            let events = responder.startEventStream()
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now(), repeating: .milliseconds(20))
            timer.setEventHandler { events.send(data: "tick") }
            events.cancellation.onCancel { _ in
                timer.cancel()
                cancelled.signal()
            }
            timer.resume()
        }
        let server = try TestServer(router: router)
        var client: RawClient? = try RawClient(port: server.port)
        client?.send("GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = buffer.withUnsafeMutableBytes { recv(client!.descriptor, $0.baseAddress, $0.count, 0) }
        client = nil
        #expect(cancelled.wait(timeout: .now() + 3) == .success)
    }

    @Test func handlerThatNeverAnswersGets500WhenItDropsTheResponder() throws {
        let router = Router()
        router.get("/forgetful") { _, _ in }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        client.send("GET /forgetful HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 500)
    }

    @Test func responseHeadersCannotSplitTheResponse() throws {
        let router = Router()
        router.get("/inject") { _, responder in
            responder.respond(
                HTTPResponse(
                    status: 200,
                    headers: [
                        "X-Bad": "a\r\nSet-Cookie: evil=1", "X-Good": "ok",
                        "Content-Length": "999",
                    ],
                    body: Array("body".utf8)))
        }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        client.send("GET /inject HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.header("Set-Cookie") == nil)
        #expect(response.header("X-Bad") == nil)
        #expect(response.header("X-Good") == "ok")
        #expect(response.header("Content-Length") == "4")
        #expect(response.bodyText == "body")
    }
}

final class ReasonBox: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: CancellationReason?
    func set(_ value: CancellationReason) {
        lock.lock()
        reason = value
        lock.unlock()
    }
    func get() -> CancellationReason? {
        lock.lock()
        defer { lock.unlock() }
        return reason
    }
}
