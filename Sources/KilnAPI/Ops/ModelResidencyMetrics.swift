import Foundation
import KilnServe
import Prometheus

/// Which language models are in memory, as Prometheus series labelled `model_name`: whether each
/// is loaded, how often it was loaded and unloaded and how long a load took, and the bytes
/// resident against the budget. Only with several language models (``ModelResidency``).
// @unchecked Sendable: Prometheus's metric objects lock themselves; the maps are only read after `init`.
public final class ModelResidencyMetrics: @unchecked Sendable {
    private let loaded: [String: Gauge]
    private let loads: [String: Counter]
    private let unloads: [String: Counter]
    private let loadFailures: [String: Counter]
    private let loadDuration: [String: DurationHistogram]
    private let residentBytes: Gauge

    /// - Parameter budgetBytes: the memory budget (0: none), exported as a constant gauge.
    public init(registry: PrometheusCollectorRegistry, modelIDs: [String], budgetBytes: Int) {
        func descriptor(_ name: String, _ help: String, unit: String? = nil) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "kiln", metricName: name, unitName: unit ?? "", helpText: help)
        }
        func perModel<Metric>(_ make: (String) -> Metric) -> [String: Metric] {
            Dictionary(uniqueKeysWithValues: modelIDs.map { ($0, make($0)) })
        }
        loaded = perModel {
            registry.makeGauge(
                descriptor: descriptor("model_loaded", "1 while the language model is in memory, else 0."),
                labels: [("model_name", $0)])
        }
        loads = perModel {
            registry.makeCounter(
                descriptor: descriptor("model_loads_total", "Times the language model was loaded."),
                labels: [("model_name", $0)])
        }
        unloads = perModel {
            registry.makeCounter(
                descriptor: descriptor("model_unloads_total", "Times the language model was unloaded to make room for another."),
                labels: [("model_name", $0)])
        }
        loadFailures = perModel {
            registry.makeCounter(
                descriptor: descriptor("model_load_failures_total", "Loads of the language model that failed."),
                labels: [("model_name", $0)])
        }
        loadDuration = perModel {
            registry.makeDurationHistogram(
                descriptor: descriptor("model_load_duration", "Time to load the language model.", unit: "seconds"),
                labels: [("model_name", $0)],
                buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60].map { Duration.nanoseconds(Int64($0 * 1e9)) })
        }
        residentBytes = registry.makeGauge(
            descriptor: descriptor("models_resident", "Estimated bytes of the language models in memory (weights and KV cache).", unit: "bytes"))
        registry.makeGauge(
            descriptor: descriptor("models_memory_budget", "The memory budget of the language models (0: none).", unit: "bytes")
        ).set(Double(budgetBytes))
    }

    /// Counts a load or unload; pass as the residency's `onChange`.
    public func record(_ change: ResidencyChange) {
        switch change {
        case let .loaded(model, seconds):
            loads[model]?.increment()
            loadDuration[model]?.record(.nanoseconds(Int64(seconds * 1e9)))
        case let .loadFailed(model, _):
            loadFailures[model]?.increment()
        case let .unloaded(model, _):
            unloads[model]?.increment()
        }
    }

    /// Sets the gauges from the residency's bookkeeping (call before rendering).
    public func refresh(from ledger: ResidencyLedger) {
        for entry in ledger.entries { loaded[entry.id]?.set(entry.phase == .loaded ? 1.0 : 0.0) }
        residentBytes.set(Double(ledger.residentBytes))
    }
}
