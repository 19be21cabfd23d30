import Foundation
import KilnAPI
import KilnHTTP
import Logging
import Testing

/// `/health`, `/ready` and `/metrics` on a live server, the metrics parsed by Python's
/// prometheus_client (the parser Prometheus' own Python tooling uses).
@Suite("Ops endpoints")
struct OpsEndpointsTests {
    final class Fixture {
        let server: HTTPServer
        let readiness = OpsReadiness()
        let metrics = OpsMetrics()

        init(apiKeys: [String] = []) throws {
            let router = Router(authenticator: APIKeyAuthenticator(keys: apiKeys))
            OpsEndpoints(metrics: metrics, readiness: readiness).register(on: router)
            router.get("/v1/items/{id}") { request, responder in
                responder.respond(.json("{\"id\":\"\(request.pathParameters["id"] ?? "")\"}"))
            }
            var configuration = HTTPServerConfiguration()
            configuration.port = 0
            configuration.ioQueueCount = 2
            var logger = Logger(label: "test.ops")
            logger.logLevel = .critical
            server = HTTPServer(configuration: configuration, logger: logger, observer: metrics, handler: router.handler)
            try server.start()
        }

        deinit { server.shutdownAndWait(gracePeriod: 0) }

        func url(_ path: String) -> String { "http://127.0.0.1:\(server.port)\(path)" }
    }

    static func curl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-s"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func healthAndReadiness() throws {
        let fixture = try Fixture(apiKeys: ["sk-x"])
        #expect(try Self.curl(["-w", " %{http_code}", fixture.url("/health")]) == "{\"status\":\"ok\"} 200")
        #expect(try Self.curl(["-w", " %{http_code}", fixture.url("/ready")]) == "{\"status\":\"loading\"} 503")
        fixture.readiness.state = .ready
        #expect(try Self.curl(["-w", " %{http_code}", fixture.url("/ready")]) == "{\"status\":\"ready\"} 200")
        fixture.readiness.state = .draining
        #expect(try Self.curl(["-w", " %{http_code}", fixture.url("/ready")]) == "{\"status\":\"draining\"} 503")
        // /metrics needs the key when keys are configured.
        #expect(try Self.curl(["-o", "/dev/null", "-w", "%{http_code}", fixture.url("/metrics")]) == "401")
        #expect(
            try Self.curl([
                "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer sk-x",
                fixture.url("/metrics"),
            ]) == "200")
    }

    static let parserScript = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        text = sys.stdin.read()
        out = {}
        for family in text_string_to_metric_families(text):
            out[family.name] = {"type": family.type,
                                "samples": [[s.name, s.labels, s.value] for s in family.samples]}
        print(json.dumps(out))
        """

    @Test func metricsParseWithPrometheusClient() throws {
        let fixture = try Fixture()
        for _ in 0..<5 { _ = try Self.curl([fixture.url("/health")]) }
        _ = try Self.curl([fixture.url("/v1/items/1"), fixture.url("/v1/items/2"), fixture.url("/nowhere")])
        let exposition = try Self.curl([fixture.url("/metrics")])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.parserScript]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(exposition.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "prometheus_client could not parse /metrics (run Scripts/setup.sh): \(errorText)")
        let families = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])

        func samples(_ family: String) -> [(String, [String: String], Double)] {
            ((families[family]?["samples"] as? [[Any]]) ?? []).map {
                ($0[0] as! String, $0[1] as! [String: String], ($0[2] as! NSNumber).doubleValue)
            }
        }
        #expect(families["kiln_http_requests"]?["type"] as? String == "counter")
        let requests = samples("kiln_http_requests")
        let health = requests.first { $0.1 == ["method": "GET", "route": "/health", "status": "200"] }
        #expect(health?.2 == 5)
        #expect(requests.first { $0.1 == ["method": "GET", "route": "/v1/items/{id}", "status": "200"] }?.2 == 2)
        #expect(requests.first { $0.1 == ["method": "GET", "route": "unmatched", "status": "404"] }?.2 == 1)

        #expect(families["kiln_http_request_duration_seconds"]?["type"] as? String == "histogram")
        let durations = samples("kiln_http_request_duration_seconds")
        let count = durations.first { $0.0 == "kiln_http_request_duration_seconds_count" && $0.1["route"] == "/health" }
        #expect(count?.2 == 5)
        #expect(durations.contains { $0.0.hasSuffix("_bucket") && $0.1["le"] == "+Inf" })

        // The scrape's own connection is open while it renders.
        #expect(samples("kiln_http_open_connections").first.map { $0.2 >= 1 } == true)
        #expect(samples("kiln_http_received_bytes").first.map { $0.2 > 0 } == true)
        #expect(samples("kiln_http_sent_bytes").first.map { $0.2 > 0 } == true)
        #expect(samples("process_resident_memory_bytes").first.map { $0.2 > 1_000_000 } == true)
        #expect(families["process_cpu_seconds"]?["type"] as? String == "counter")
        #expect(samples("process_cpu_seconds").first.map { $0.2 > 0 } == true)
    }
}
