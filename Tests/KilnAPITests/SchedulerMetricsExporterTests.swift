import KilnAPI
import KilnServe
import Testing

@Suite struct SchedulerMetricsExporterTests {
    /// A negative latency (a clock reading that raced an admission) used to make the histogram's
    /// sum negative, and rendering it trapped inside swift-prometheus: `/metrics` killed the server.
    @Test func aNegativeLatencyRendersAsZero() {
        let metrics = OpsMetrics()
        let exporter = SchedulerMetricsExporter(registry: metrics.registry)
        exporter.observer(.queueTime(seconds: -0.002))
        exporter.observer(.interTokenLatency(seconds: -1e-6))
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("kiln_queue_time_seconds_count 1"))
        #expect(text.contains("kiln_queue_time_seconds_sum 0"))
        #expect(text.contains("kiln_inter_token_latency_seconds_count 1"))
    }
}
