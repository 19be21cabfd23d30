import Foundation
import KilnHTTP
import Testing

@Suite("Router, CORS and API keys")
struct RouterSecurityTests {
    private func exchange(_ server: TestServer, _ request: String) throws -> ParsedResponse {
        let client = try RawClient(port: server.port)
        client.send(request)
        return try #require(client.readResponse(isHead: request.hasPrefix("HEAD")))
    }

    @Test func notFoundAndMethodNotAllowedAreOpenAIErrors() throws {
        let server = try TestServer()
        let missing = try exchange(server, "GET /v1/nothing HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(missing.status == 404)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(missing.body)) as? [String: Any])
        let error = try #require(json["error"] as? [String: Any])
        #expect(error["message"] as? String == "Invalid URL (GET /v1/nothing)")
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["param"] is NSNull)
        #expect(error["code"] as? String == "not_found")

        let wrong = try exchange(server, "POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        #expect(wrong.status == 405)
        #expect(wrong.header("Allow") == "GET, HEAD, OPTIONS")
        #expect(wrong.bodyText.contains("\"code\":\"method_not_allowed\""))
    }

    @Test func pathParametersAndOptions() throws {
        let server = try TestServer()
        #expect(try exchange(server, "GET /items/abc HTTP/1.1\r\nHost: a\r\n\r\n").bodyText == "{\"id\":\"abc\"}")
        #expect(try exchange(server, "GET /items/ HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        let options = try exchange(server, "OPTIONS /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(options.status == 204)
        #expect(options.header("Allow") == "POST, OPTIONS")
    }

    @Test func corsIsOffByDefault() throws {
        let server = try TestServer()
        let response = try exchange(server, "GET /health HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.header("Access-Control-Allow-Origin") == nil)
    }

    @Test func corsAnswersOnlyAllowedOrigins() throws {
        let router = TestServer.standardRouter(
            cors: CORSPolicy(allowedOrigins: ["https://app.example"]),
            authenticator: APIKeyAuthenticator(keys: ["sk-test"]))
        let server = try TestServer(router: router)
        let allowed = try exchange(server, "GET /health HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n\r\n")
        #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(allowed.header("Vary") == "Accept-Encoding, Origin")
        let other = try exchange(server, "GET /health HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n")
        #expect(other.header("Access-Control-Allow-Origin") == nil)
        // The preflight needs no key, even on a route that does.
        let preflight = try exchange(
            server,
            "OPTIONS /echo HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n"
                + "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n\r\n")
        #expect(preflight.status == 204)
        #expect(preflight.header("Access-Control-Allow-Origin") == "https://app.example")
        #expect(preflight.header("Access-Control-Allow-Methods") == "POST, OPTIONS")
        #expect(preflight.header("Access-Control-Allow-Headers")?.contains("Authorization") == true)
        let evilPreflight = try exchange(
            server,
            "OPTIONS /echo HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n"
                + "Access-Control-Request-Method: POST\r\n\r\n")
        #expect(evilPreflight.header("Access-Control-Allow-Origin") == nil)
        #expect(evilPreflight.header("Access-Control-Allow-Methods") == nil)
    }

    @Test func apiKeysAreRequiredExceptOnPublicRoutes() throws {
        let router = TestServer.standardRouter(authenticator: APIKeyAuthenticator(keys: ["sk-one", "sk-two"]))
        let server = try TestServer(router: router)
        let body = "Content-Length: 2\r\n\r\nhi"
        let missing = try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\n\(body)")
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == "Bearer")
        #expect(missing.bodyText.contains("\"code\":\"invalid_api_key\""))
        #expect(try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer sk-on\r\n\(body)").status == 401)
        #expect(try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer sk-one2\r\n\(body)").status == 401)
        #expect(try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Basic sk-one\r\n\(body)").status == 401)
        #expect(try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer sk-two\r\n\(body)").bodyText == "hi")
        #expect(try exchange(server, "POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: bearer sk-one\r\n\(body)").status == 200)
        #expect(try exchange(server, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
    }

    @Test func constantTimeComparisonHandlesEveryLength() {
        let authenticator = APIKeyAuthenticator(keys: ["secret"])
        #expect(authenticator.authorizes("Bearer secret"))
        #expect(!authenticator.authorizes("Bearer "))
        #expect(!authenticator.authorizes("Bearer secre"))
        #expect(!authenticator.authorizes("Bearer secretsecret"))
        #expect(!authenticator.authorizes(nil))
        #expect(APIKeyAuthenticator(keys: []).authorizes(nil))
    }
}

@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test func inFlightRequestsFinishAndNewConnectionsAreRefused() throws {
        let server = try TestServer()
        let port = server.port
        let idle = try RawClient(port: port)
        idle.send("GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(idle.readResponse()?.status == 200)
        let busy = try RawClient(port: port)
        busy.send("GET /later HTTP/1.1\r\nHost: a\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.05)
        let stopped = DispatchSemaphore(value: 0)
        server.server.shutdown(gracePeriod: 5) { stopped.signal() }
        let response = try #require(busy.readResponse())
        #expect(response.status == 200)
        #expect(response.bodyText == "{\"late\":true}")
        #expect(response.header("Connection") == "close")
        #expect(busy.isClosedByPeer())
        #expect(idle.isClosedByPeer())
        #expect(stopped.wait(timeout: .now() + 3) == .success)
        #expect(server.server.isDraining)
        #expect(throws: (any Error).self) { _ = try RawClient(port: port) }
    }

    /// A client that connected before the shutdown and sends its request after it began (a
    /// proxy's connection per request, caught between connect and write) is answered, with
    /// `Connection: close`, rather than closed as if idle: its request cannot be retried safely.
    @Test func aRequestOnAConnectionOpenedBeforeTheShutdownIsAnswered() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        Thread.sleep(forTimeInterval: 0.1)  // accepted
        let stopped = DispatchSemaphore(value: 0)
        server.server.shutdown(gracePeriod: 5) { stopped.signal() }
        Thread.sleep(forTimeInterval: 0.1)  // draining
        #expect(throws: (any Error).self) { _ = try RawClient(port: server.port) }
        client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.bodyText == "hello")
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByPeer())
        #expect(stopped.wait(timeout: .now() + 3) == .success)
    }

    @Test func graceDeadlineCancelsWhatIsLeft() throws {
        let cancelled = ReasonBox()
        let router = Router()
        router.get("/hang") { _, responder in
            responder.cancellation.onCancel { reason in
                _ = responder
                cancelled.set(reason)
            }
        }
        let server = try TestServer(router: router)
        let client = try RawClient(port: server.port)
        client.send("GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.05)
        let start = Date()
        server.server.shutdownAndWait(gracePeriod: 0.3)
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.25 && elapsed < 3)
        #expect(cancelled.get() == .serverShutdown)
        #expect(client.isClosedByPeer())
    }
}
