import Foundation
import KilnHTTP
import Testing

@Suite("Server basics on a real loopback socket")
struct ServerBasicsTests {
    @Test func healthAnswersAndKeepsAlive() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        for _ in 0..<3 {
            client.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.bodyText == "{\"status\":\"ok\"}")
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.header("Date") != nil)
            #expect(response.header("Connection") == nil)
        }
    }
}
