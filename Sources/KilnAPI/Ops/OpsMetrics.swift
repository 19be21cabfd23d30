import Foundation
import KilnHTTP
import Prometheus

/// The server's metrics in a Prometheus registry: it is the ``HTTPServerObserver`` the server
/// reports to, and renders the text exposition `/metrics` serves.
///
/// Labels are bounded: the route is the matched pattern (`unmatched` otherwise) and unknown
/// methods count as `other`, so a client cannot grow the series without limit.
// @unchecked Sendable: every counter map is read and written under `lock`.
public final class OpsMetrics: HTTPServerObserver, @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let openConnections: Gauge
    private let connectionsTotal: Counter
    private let bytesReceivedTotal: Counter
    private let bytesSentTotal: Counter
    private let residentMemory: Gauge
    private let cpuSeconds: Counter
    private let openFileDescriptors: Gauge
    private let maxFileDescriptors: Gauge
    private let lock = NSLock()
    private var reportedCPUSeconds = 0.0
    /// Series already made, so a request costs a dictionary lookup instead of the registry's
    /// name validation and locking.
    private var beforeRender: [@Sendable () -> Void] = []
    private var requestSeries: [RequestKey: RequestSeries] = [:]
    /// The series the previous request used: consecutive requests mostly share method, route and
    /// status, and comparing three small values is far cheaper than hashing two strings.
    private var lastSeries: (key: RequestKey, series: RequestSeries)?

    private typealias RequestSeries = (requests: Counter, durations: DurationHistogram)

    private struct RequestKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]

    /// `method` if it is one of ``knownMethods``, `other` otherwise. A `switch` compares the
    /// (small, inline) strings directly where the set would hash them, once per request.
    static func boundedMethod(_ method: String) -> String {
        switch method {
        case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH": return method
        default: return "other"
        }
    }
    /// Request-duration buckets, in seconds: from a cached health check to a long generation.
    public static let durationBuckets: [Duration] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
        .map { Duration.nanoseconds(Int64($0 * 1e9)) }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        openConnections = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "kiln", subsystem: "http", metricName: "open", unitName: "connections",
                helpText: "Client connections currently open."))
        connectionsTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "kiln", subsystem: "http", metricName: "connections", unitName: "total",
                helpText: "Client connections accepted."))
        bytesReceivedTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "kiln", subsystem: "http", metricName: "received", unitName: "bytes_total",
                helpText: "Bytes read from client sockets."))
        bytesSentTotal = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "kiln", subsystem: "http", metricName: "sent", unitName: "bytes_total",
                helpText: "Bytes written to client sockets."))
        residentMemory = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "resident_memory", unitName: "bytes",
                helpText: "Resident memory size in bytes."))
        cpuSeconds = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "cpu", unitName: "seconds_total",
                helpText: "Total user and system CPU time spent in seconds."))
        openFileDescriptors = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "open", unitName: "fds", helpText: "Number of open file descriptors."))
        maxFileDescriptors = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "max", unitName: "fds", helpText: "Maximum number of open file descriptors."))
    }

    public func connectionOpened() {
        openConnections.increment()
        connectionsTotal.increment()
    }

    public func connectionClosed() {
        openConnections.decrement()
    }

    public func bytesReceived(_ count: Int) {
        bytesReceivedTotal.increment(by: Int64(count))
    }

    public func bytesSent(_ count: Int) {
        bytesSentTotal.increment(by: Int64(count))
    }

    public func requestCompleted(_ record: HTTPRequestRecord) {
        let key = RequestKey(method: Self.boundedMethod(record.method), route: record.route, status: record.status)
        let series = lock.withLock { () -> RequestSeries in
            if let last = lastSeries, last.key == key { return last.series }
            let found = requestSeries[key] ?? makeSeries(for: key)
            lastSeries = (key, found)
            return found
        }
        series.requests.increment()
        series.durations.record(Duration.nanoseconds(Int64(record.duration * 1e9)))
    }

    /// Registers the series of a method, route and status seen for the first time; under `lock`.
    private func makeSeries(for key: RequestKey) -> RequestSeries {
        let made = (
            requests: registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    namespace: "kiln", subsystem: "http", metricName: "requests",
                    unitName: "total", helpText: "HTTP requests completed."),
                labels: [("method", key.method), ("route", key.route), ("status", String(key.status))]),
            durations: registry.makeDurationHistogram(
                descriptor: MetricNameDescriptor(
                    namespace: "kiln", subsystem: "http", metricName: "request_duration",
                    unitName: "seconds",
                    helpText: "Time from request head to the response's last byte."),
                labels: [("method", key.method), ("route", key.route)],
                buckets: Self.durationBuckets)
        )
        requestSeries[key] = made
        return made
    }

    /// Adds work to run before each rendering, such as copying another component's figures in.
    public func addRefresh(_ refresh: @escaping @Sendable () -> Void) {
        lock.withLock { beforeRender.append(refresh) }
    }

    /// The Prometheus text exposition, with process figures read now.
    public func render() -> [UInt8] {
        for refresh in lock.withLock({ beforeRender }) { refresh() }
        let stats = OpsProcessStats.current()
        residentMemory.set(stats.residentMemoryBytes)
        if let fds = stats.openFileDescriptors { openFileDescriptors.set(fds) }
        maxFileDescriptors.set(stats.maxFileDescriptors)
        lock.withLock {
            // A counter only moves forward: add what was spent since the last scrape.
            let delta = stats.cpuSeconds - reportedCPUSeconds
            if delta > 0 {
                cpuSeconds.increment(by: delta)
                reportedCPUSeconds = stats.cpuSeconds
            }
        }
        return registry.emitToBuffer()
    }
}
