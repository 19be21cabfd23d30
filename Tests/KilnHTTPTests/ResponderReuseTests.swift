import Dispatch
import Foundation
import KilnHTTP
import Testing

/// A connection reuses its responder for the next request when the handler kept no reference to
/// it; these check that nothing of one request reaches the next through a reused or a kept one.
@Suite("Responder reuse")
struct ResponderReuseTests {
    @Test func requestsAfterAReusedResponderGetTheirOwnAnswers() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        for index in 0..<9 {
            // Answered at once (reused), from another thread (kept by the handler), at once again.
            let path = index % 3 == 1 ? "/later" : "/items/\(index)"
            client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.bodyText == (index % 3 == 1 ? "{\"late\":true}" : "{\"id\":\"\(index)\"}"))
        }
    }

    @Test func aKeptResponderAnsweringAgainDoesNotReachTheNextRequest() throws {
        let kept = ResponderBox()
        let router = Router()
        router.get("/first") { _, responder in
            responder.respond(.json("\"first\""))
            kept.set(responder)
        }
        router.get("/second") { _, responder in
            // The first request's responder answers again before this one does: it must be ignored.
            kept.get()?.respond(.json("\"stale\""))
            responder.respond(.json("\"second\""))
        }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.bodyText == "\"first\"")
        client.send("GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.bodyText == "\"second\"")
    }

    @Test func aForgottenAnswerGets500AndTheConnectionServesTheNextRequest() throws {
        let router = Router()
        router.get("/forgetful") { _, _ in }
        router.get("/fine") { _, responder in responder.respond(.json("\"fine\"")) }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        for _ in 0..<3 {
            client.send("GET /forgetful HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.status == 500)
            client.send("GET /fine HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.bodyText == "\"fine\"")
        }
    }

    @Test func headersAddedForOneRequestAreNotSentWithTheNext() throws {
        let router = Router()
        router.get("/tagged") { _, responder in
            responder.addHeader(name: "X-Once", value: "1")
            responder.respond(.json("\"tagged\""))
        }
        router.get("/plain") { _, responder in responder.respond(.json("\"plain\"")) }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        client.send("GET /tagged HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.header("X-Once") == "1")
        client.send("GET /plain HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.bodyText == "\"plain\"")
        #expect(response.header("X-Once") == nil)
    }

    @Test func streamsAndPlainResponsesAlternateOnOneConnection() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        for _ in 0..<2 {
            client.send("GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.bodyText == "{\"status\":\"ok\"}")
            client.send("GET /events?n=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.bodyText == "data: {\"n\":0}\n\ndata: [DONE]\n\n")
        }
    }
}

/// Holds a responder across requests, as a handler that keeps one would.
final class ResponderBox: @unchecked Sendable {
    private let lock = NSLock()
    private var responder: HTTPResponder?

    func set(_ value: HTTPResponder) {
        lock.withLock { responder = value }
    }

    func get() -> HTTPResponder? {
        lock.withLock { responder }
    }
}
