import KilnHTTP

/// The operations endpoints: `/health`, `/ready` and `/metrics`.
///
/// `/health` and `/ready` never need an API key (orchestrators probe them without one);
/// `/metrics` does when keys are configured, since it describes the traffic.
public struct OpsEndpoints: Sendable {
    public let metrics: OpsMetrics
    public let readiness: OpsReadiness

    public init(metrics: OpsMetrics, readiness: OpsReadiness) {
        self.metrics = metrics
        self.readiness = readiness
    }

    /// The Content-Type of the Prometheus text format.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    public func register(on router: Router) {
        // Made once: probes hit this constantly, and a copy of a finished response is two
        // retains where building it allocates its headers and body each time.
        let healthy = HTTPResponse.json("{\"status\":\"ok\"}")
        router.get("/health", access: .public) { _, responder in
            responder.respond(healthy)
        }
        let readiness = self.readiness
        router.get("/ready", access: .public) { _, responder in
            let state = readiness.state
            let body = "{\"status\":\"\(state.rawValue)\"}"
            responder.respond(
                .json(
                    body, status: state == .ready ? 200 : 503,
                    headers: state == .ready ? HTTPHeaders() : ["Retry-After": "1"]))
        }
        let metrics = self.metrics
        router.get("/metrics") { _, responder in
            responder.respond(
                HTTPResponse(
                    status: 200, headers: ["Content-Type": Self.metricsContentType],
                    body: metrics.render()))
        }
    }
}
