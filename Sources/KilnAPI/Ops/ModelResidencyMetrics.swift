import Foundation
import KilnServe
import Prometheus

/// Which language models are in memory, as Prometheus series labelled `model_name`: whether each
/// is loaded, how often it was loaded and unloaded and how long a load took, the bytes resident
/// against the budget, and what reloads of the models folder changed. Only with several language
/// models (``ModelResidency``). A model a reload adds gets its series when first seen.
// @unchecked Sendable: Prometheus's metric objects lock themselves; `series` changes under `lock`.
public final class ModelResidencyMetrics: @unchecked Sendable {
    /// One model's series.
    private struct Series {
        let loaded: Gauge
        let cost: Gauge
        let loads: Counter
        let unloads: Counter
        let outdatedUnloads: Counter
        let loadFailures: Counter
        let loadDuration: DurationHistogram
    }

    private let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private var series: [String: Series] = [:]
    private let residentBytes: Gauge
    private let reloads: Counter
    private let failedReloads: Counter
    private let folderChanges: [String: Counter]

    /// - Parameters:
    ///   - budgetBytes: the memory budget (0: none), exported as a constant gauge.
    ///   - pinned: the image and embedding models, always resident, whose bytes count against it
    ///     (`kiln_model_pinned_bytes{model_name}`, constant).
    public init(registry: PrometheusCollectorRegistry, modelIDs: [String], budgetBytes: Int, pinned: [ResidencyLedger.PinnedModel] = []) {
        self.registry = registry
        residentBytes = registry.makeGauge(
            descriptor: Self.descriptor(
                "models_resident",
                "Estimated bytes of the models in memory, counted against the budget: the language models loaded (weights and KV cache) and the image and embedding models (weights).",
                unit: "bytes"))
        for model in pinned {
            registry.makeGauge(
                descriptor: Self.descriptor(
                    "model_pinned", "Estimated bytes of an image or embedding model, always loaded, counted against the budget.", unit: "bytes"),
                labels: [("model_name", model.id)]
            ).set(Double(model.costBytes))
        }
        registry.makeGauge(
            descriptor: Self.descriptor("models_memory_budget", "The memory budget of all the models (0: none).", unit: "bytes")
        ).set(Double(budgetBytes))
        reloads = registry.makeCounter(
            descriptor: Self.descriptor("model_folder_reloads_total", "Rescans of the models folder (SIGHUP)."))
        failedReloads = registry.makeCounter(
            descriptor: Self.descriptor("model_folder_reload_failures_total", "Rescans of the models folder that could not read it."))
        folderChanges = Dictionary(
            uniqueKeysWithValues: ["added", "removed", "changed", "skipped"].map { change in
                (
                    change,
                    registry.makeCounter(
                        descriptor: Self.descriptor(
                            "model_folder_changes_total",
                            "Model files a rescan of the models folder found added, removed, changed, or skipped (unreadable, too large, or an id taken)."
                        ),
                        labels: [("change", change)])
                )
            })
        for id in modelIDs { _ = self.series(id) }
    }

    private static func descriptor(_ name: String, _ help: String, unit: String? = nil) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "kiln", metricName: name, unitName: unit ?? "", helpText: help)
    }

    private func series(_ id: String) -> Series {
        lock.withLock {
            if let existing = series[id] { return existing }
            let labels = [("model_name", id)]
            let made = Series(
                loaded: registry.makeGauge(
                    descriptor: Self.descriptor("model_loaded", "1 while the language model is in memory, else 0."), labels: labels),
                cost: registry.makeGauge(
                    descriptor: Self.descriptor(
                        "model_cost",
                        "Estimated bytes the language model takes while loaded (its file and its KV cache), counted against the budget.",
                        unit: "bytes"),
                    labels: labels),
                loads: registry.makeCounter(descriptor: Self.descriptor("model_loads_total", "Times the language model was loaded."), labels: labels),
                unloads: registry.makeCounter(
                    descriptor: Self.descriptor("model_unloads_total", "Times the language model was unloaded to make room for another."),
                    labels: labels),
                outdatedUnloads: registry.makeCounter(
                    descriptor: Self.descriptor(
                        "model_outdated_unloads_total",
                        "Times the language model was unloaded once idle because a reload removed or changed its file."),
                    labels: labels),
                loadFailures: registry.makeCounter(
                    descriptor: Self.descriptor("model_load_failures_total", "Loads of the language model that failed."), labels: labels),
                loadDuration: registry.makeDurationHistogram(
                    descriptor: Self.descriptor("model_load_duration", "Time to load the language model.", unit: "seconds"),
                    labels: labels,
                    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60].map { Duration.nanoseconds(Int64($0 * 1e9)) }))
            series[id] = made
            return made
        }
    }

    /// Counts a load or unload; pass as the residency's `onChange`.
    public func record(_ change: ResidencyChange) {
        switch change {
        case let .loaded(model, seconds):
            let series = series(model)
            series.loads.increment()
            series.loadDuration.record(.nanoseconds(Int64(seconds * 1e9)))
        case let .loadFailed(model, _):
            series(model).loadFailures.increment()
        case let .unloaded(model, _):
            series(model).unloads.increment()
        case let .unloadedOutdated(model, _):
            series(model).outdatedUnloads.increment()
        }
    }

    /// Counts a rescan of the models folder and what it changed (nil: the folder could not be read).
    public func recordReload(_ changes: ModelFolder.Changes?, skipped: Int) {
        reloads.increment()
        guard let changes else { return failedReloads.increment() }
        folderChanges["added"]?.increment(by: Int64(changes.added.count))
        folderChanges["removed"]?.increment(by: Int64(changes.removed.count))
        folderChanges["changed"]?.increment(by: Int64(changes.changed.count))
        folderChanges["skipped"]?.increment(by: Int64(skipped))
    }

    /// Sets the gauges from the residency's bookkeeping (call before rendering); a model no
    /// longer in it reads 0.
    public func refresh(from ledger: ResidencyLedger) {
        let known = lock.withLock { Array(series.keys) }
        let phases = Dictionary(uniqueKeysWithValues: ledger.entries.map { ($0.id, $0.phase) })
        for id in known { series(id).loaded.set(phases[id] == .loaded ? 1.0 : 0.0) }
        for entry in ledger.entries { series(entry.id).cost.set(Double(entry.costBytes)) }
        residentBytes.set(Double(ledger.residentBytes))
    }
}
