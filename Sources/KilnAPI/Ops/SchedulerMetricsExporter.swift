import Foundation
import KilnServe
import Prometheus

/// The batching scheduler's figures as Prometheus series (prefix `kiln_`): gauges and counters
/// refreshed from a `SchedulerMetrics` snapshot at each scrape, and histograms fed one
/// observation at a time through `observer`.
///
/// The three gauges a load-aware router reads (the Gateway API Inference Extension's endpoint
/// picker among them) are per model, labelled `model_name` like vLLM's: `kiln_requests_waiting`,
/// `kiln_requests_running` and `kiln_kv_cache_usage_ratio` (0 to 1). They appear once
/// ``serve(model:)`` names the model, after it has loaded.
///
/// With several language models (each on a scheduler of its own) every exporter is made with
/// `labels` (`model_name`): all its series carry them, and the per-model gauges exist from the
/// start. Prometheus forbids one family with and without labels, so a server labels all or none.
// @unchecked Sendable: Prometheus's metric objects lock themselves; the exporter's own mutable state
// changes only under `lock`.
public final class SchedulerMetricsExporter: @unchecked Sendable {
    private let registry: PrometheusCollectorRegistry
    /// The per-model gauges, once the model is named: running, waiting, KV-cache usage.
    private var perModel: (running: Gauge, waiting: Gauge, kvUsage: Gauge)?
    private let kvBlocksCached: Gauge
    private let tokensPerSecond: Gauge
    private let promptTokens: Counter
    private let generatedTokens: Counter
    private let prefixQueries: Counter
    private let prefixHits: Counter
    private let preemptions: Counter
    private let queueTime: DurationHistogram
    private let timeToFirstToken: DurationHistogram
    private let interTokenLatency: DurationHistogram
    private let endToEndLatency: DurationHistogram
    private let tokensPerIteration: ValueHistogram
    private let imagesRunning: Gauge
    private let imagesWaiting: Gauge
    private let denoisingStepsPerSecond: Gauge
    private let denoisingSteps: Counter
    private let imagesGenerated: Counter
    private let imageLatency: DurationHistogram
    private let denoisingStepDuration: DurationHistogram
    private let embeddingsRunning: Gauge
    private let embeddingsWaiting: Gauge
    private let embeddingInputs: Counter
    private let embeddingTokens: Counter
    private let embeddingStepDuration: DurationHistogram
    private let lock = NSLock()
    private var reported = SchedulerMetrics()

    /// - Parameter labels: put on every series (empty: none; the per-model gauges then wait for
    ///   ``serve(model:)``).
    public init(registry: PrometheusCollectorRegistry, labels: [(String, String)] = []) {
        self.registry = registry
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "kiln", metricName: name, helpText: help), labels: labels)
        }
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "kiln", metricName: name, helpText: help), labels: labels)
        }
        func latency(_ name: String, _ help: String, _ buckets: [Double]) -> DurationHistogram {
            registry.makeDurationHistogram(
                descriptor: MetricNameDescriptor(namespace: "kiln", metricName: name, unitName: "seconds", helpText: help),
                labels: labels, buckets: buckets.map { Duration.nanoseconds(Int64($0 * 1e9)) })
        }
        kvBlocksCached = gauge("kv_cache_cached_blocks", "KV blocks kept for the prefix cache, free to evict.")
        tokensPerSecond = gauge("generation_tokens_per_second", "Generated tokens per second over the last 10 s.")
        promptTokens = counter("prompt_tokens_total", "Prompt tokens of admitted jobs.")
        generatedTokens = counter("generation_tokens_total", "Tokens generated.")
        prefixQueries = counter("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.")
        prefixHits = counter("prefix_cache_hits_total", "Prompt tokens found in the prefix cache.")
        preemptions = counter("preemptions_total", "Sequences preempted to free KV blocks.")
        let short = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
        let long = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
        queueTime = latency("queue_time", "Time from submission to admission.", long)
        timeToFirstToken = latency("time_to_first_token", "Time from submission to the first token.", long)
        interTokenLatency = latency("inter_token_latency", "Time between consecutive tokens of a sequence.", short)
        endToEndLatency = latency("e2e_request_latency", "Time from submission to the last token.", long)
        tokensPerIteration = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "kiln", metricName: "iteration_tokens",
                helpText: "Tokens run by one scheduler iteration."),
            labels: labels, buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        imagesRunning = gauge("image_jobs_running", "Image jobs admitted and denoising.")
        imagesWaiting = gauge("image_jobs_waiting", "Image jobs waiting in the queue.")
        denoisingStepsPerSecond = gauge(
            "image_denoising_steps_per_second",
            "Denoising steps per second over the last 10 s, summed over images.")
        denoisingSteps = counter("image_denoising_steps_total", "Denoising steps taken, summed over images.")
        imagesGenerated = counter("images_generated_total", "Images finished.")
        imageLatency = latency(
            "image_generation_latency", "Time from submission to the finished image.",
            [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600])
        denoisingStepDuration = latency(
            "image_denoising_step_duration",
            "Time of one batched denoising step (all images in the batch).", short)
        embeddingsRunning = gauge("embedding_jobs_running", "Embedding requests admitted and not yet answered.")
        embeddingsWaiting = gauge("embedding_jobs_waiting", "Embedding requests waiting in the queue.")
        embeddingInputs = counter("embedding_inputs_total", "Inputs embedded.")
        embeddingTokens = counter("embedding_tokens_total", "Tokens of the inputs embedded.")
        embeddingStepDuration = latency(
            "embedding_step_duration", "Time of one iteration's share of an embedding pass (some layers, or a whole pass).",
            [0.001, 0.0025] + short)
        if let model = labels.first(where: { $0.0 == "model_name" })?.1 { serve(model: model) }
    }

    /// Feeds the histograms; pass it to the `Scheduler` as its observer.
    public var observer: SchedulerObserver {
        { [self] observation in
            switch observation {
            case .queueTime(let s): queueTime.record(Self.duration(s))
            case .timeToFirstToken(let s): timeToFirstToken.record(Self.duration(s))
            case .interTokenLatency(let s): interTokenLatency.record(Self.duration(s))
            case .endToEndLatency(let s): endToEndLatency.record(Self.duration(s))
            case .iteration(let tokens, _): tokensPerIteration.record(Double(tokens))
            case .imageLatency(let s): imageLatency.record(Self.duration(s))
            case .denoisingStep(_, let s): denoisingStepDuration.record(Self.duration(s))
            case .embeddingStep(let s): embeddingStepDuration.record(Self.duration(s))
            }
        }
    }

    /// Makes the per-model gauges, labelled `model_name="<model>"` (the id `/v1/models` lists).
    public func serve(model: String) {
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "kiln", metricName: name, helpText: help),
                labels: [("model_name", model)])
        }
        let made = (
            running: gauge("requests_running", "Sequences in the running batch."),
            waiting: gauge("requests_waiting", "Jobs waiting: queued, or preempted and waiting to resume."),
            kvUsage: gauge("kv_cache_usage_ratio", "Fraction of KV blocks held by running sequences (0 to 1).")
        )
        lock.withLock { perModel = made }
    }

    /// The scheduler behind this exporter was replaced by a new one (its model unloaded, then
    /// loaded again), whose counts start from zero: counters go on from where they were, and
    /// the gauges read zero until the next refresh. Refresh from the old scheduler first.
    public func schedulerReplaced() {
        lock.withLock { reported = SchedulerMetrics() }
        refresh(from: SchedulerMetrics())
    }

    /// Sets gauges and advances counters to `metrics` (call before rendering).
    public func refresh(from metrics: SchedulerMetrics) {
        if let perModel = lock.withLock({ perModel }) {
            perModel.running.set(Double(metrics.runningSequences))
            perModel.waiting.set(Double(metrics.waitingJobs))
            perModel.kvUsage.set(metrics.kvUsageRatio)
        }
        kvBlocksCached.set(Double(metrics.kvBlocksCached))
        tokensPerSecond.set(metrics.tokensPerSecond)
        imagesRunning.set(Double(metrics.runningImageJobs))
        imagesWaiting.set(Double(metrics.queuedImageJobs))
        denoisingStepsPerSecond.set(metrics.denoisingStepsPerSecond)
        embeddingsRunning.set(Double(metrics.runningEmbeddingJobs))
        embeddingsWaiting.set(Double(metrics.queuedEmbeddingJobs))
        lock.lock()
        defer { lock.unlock() }
        // Counters only move forward: add what happened since the last scrape.
        promptTokens.increment(by: Int64(metrics.promptTokens - reported.promptTokens))
        generatedTokens.increment(by: Int64(metrics.generatedTokens - reported.generatedTokens))
        prefixQueries.increment(by: Int64(metrics.prefixCacheQueryTokens - reported.prefixCacheQueryTokens))
        prefixHits.increment(by: Int64(metrics.prefixCacheHitTokens - reported.prefixCacheHitTokens))
        preemptions.increment(by: Int64(metrics.preemptions - reported.preemptions))
        denoisingSteps.increment(by: Int64(metrics.denoisingSteps - reported.denoisingSteps))
        imagesGenerated.increment(by: Int64(metrics.imagesGenerated - reported.imagesGenerated))
        embeddingInputs.increment(by: Int64(metrics.embeddingInputs - reported.embeddingInputs))
        embeddingTokens.increment(by: Int64(metrics.embeddingTokens - reported.embeddingTokens))
        reported = metrics
    }

    /// A duration for a histogram, never negative: swift-prometheus traps rendering a histogram
    /// whose sum is negative ("Negative value is not representable"), which took `/metrics` and
    /// the server down when a clock reading raced an admission.
    static func duration(_ seconds: Double) -> Duration { .nanoseconds(Int64(max(seconds, 0) * 1e9)) }
}
