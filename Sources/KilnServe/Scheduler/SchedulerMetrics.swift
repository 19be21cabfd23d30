import Foundation

/// Count and sum of a latency, in seconds; render as a Prometheus summary or compute a mean.
public struct LatencySummary: Sendable, Equatable {
    public var count: Int = 0
    public var sumSeconds: Double = 0
    /// The most recent observation.
    public var lastSeconds: Double = 0

    public init() {}

    public var meanSeconds: Double { count == 0 ? 0 : sumSeconds / Double(count) }

    mutating func record(_ seconds: Double) {
        count += 1
        sumSeconds += seconds
        lastSeconds = seconds
    }
}

/// A consistent picture of the scheduler, for `/metrics` and `/ready`. Gauges are as of the end
/// of the last iteration (queue counts: as of the call); counters only grow.
public struct SchedulerMetrics: Sendable, Equatable {
    // Gauges
    /// Jobs in the queue.
    public var queuedJobs = 0
    /// Preempted sequences waiting to be recomputed.
    public var preemptedSequences = 0
    /// Sequences admitted and holding KV blocks.
    public var runningSequences = 0
    public var kvBlocksTotal = 0
    /// Referenced by running sequences.
    public var kvBlocksUsed = 0
    /// Unreferenced but kept for prefix reuse (evictable).
    public var kvBlocksCached = 0
    public var kvBlocksFree = 0
    /// Generated tokens per second over the last `throughputWindow`.
    public var tokensPerSecond = 0.0
    /// Image jobs admitted and denoising.
    public var runningImageJobs = 0
    /// Image jobs in the queue (also counted in `queuedJobs`).
    public var queuedImageJobs = 0
    /// Denoising steps per second over the last `throughputWindow`, summed over generations.
    public var denoisingStepsPerSecond = 0.0
    /// Embedding jobs admitted and not yet answered.
    public var runningEmbeddingJobs = 0
    /// Embedding jobs in the queue (also counted in `queuedJobs`).
    public var queuedEmbeddingJobs = 0
    /// Tokens and sequences of the last executor call.
    public var lastBatchTokens = 0
    public var lastBatchSequences = 0

    // Counters
    public var iterations: UInt64 = 0
    public var jobsSubmitted = 0
    /// Submissions refused (queue full, invalid, shutting down).
    public var jobsRejected = 0
    public var jobsFinished = 0
    public var jobsCancelled = 0
    public var jobsFailed = 0
    public var promptTokens = 0
    /// Prompt tokens looked up in the prefix cache (first admissions only).
    public var prefixCacheQueryTokens = 0
    /// Prompt tokens served from the prefix cache.
    public var prefixCacheHitTokens = 0
    public var generatedTokens = 0
    public var preemptions = 0
    /// Denoising steps taken, summed over generations (a call advancing 3 generations counts 3).
    public var denoisingSteps = 0
    /// Batched denoiser calls.
    public var denoiserCalls = 0
    public var imagesGenerated = 0
    /// Embedding passes completed, the inputs they embedded and those inputs' tokens.
    public var embeddingPasses = 0
    public var embeddingInputs = 0
    public var embeddingTokens = 0

    // Latencies
    /// Submission to admission.
    public var queueTime = LatencySummary()
    /// Submission to first generated token.
    public var timeToFirstToken = LatencySummary()
    /// Between consecutive tokens of one sequence.
    public var interTokenLatency = LatencySummary()
    /// Submission to the terminal event.
    public var endToEndLatency = LatencySummary()
    /// Submission to the finished image, for image jobs that finished.
    public var imageLatency = LatencySummary()

    public init() {}

    /// Text jobs waiting for admission: queued plus preempted.
    public var waitingJobs: Int { queuedJobs - queuedImageJobs - queuedEmbeddingJobs + preemptedSequences }
    /// Fraction of KV blocks referenced by running sequences.
    public var kvUsageRatio: Double { kvBlocksTotal == 0 ? 0 : Double(kvBlocksUsed) / Double(kvBlocksTotal) }
    /// Jobs submitted and not yet ended (queued, running or preempted, of every kind): zero when
    /// the scheduler has nothing in flight.
    public var unfinishedJobs: Int { jobsSubmitted - jobsFinished - jobsCancelled - jobsFailed }
}

/// Single observations, for histograms (Prometheus) that a snapshot cannot rebuild.
/// Delivered on the scheduler thread (or a cancelling thread); the observer must not block.
public enum SchedulerObservation: Sendable, Equatable {
    case queueTime(seconds: Double)
    case timeToFirstToken(seconds: Double)
    case interTokenLatency(seconds: Double)
    case endToEndLatency(seconds: Double)
    /// One executor call: tokens run and sequences in the batch.
    case iteration(tokens: Int, sequences: Int)
    /// Submission to the finished image of an image job.
    case imageLatency(seconds: Double)
    /// One batched denoiser call: the generations it advanced and how long the step took.
    case denoisingStep(generations: Int, seconds: Double)
    /// One iteration's share of an embedding pass (one or more encoder layers, or a whole pass).
    case embeddingStep(seconds: Double)
}

public typealias SchedulerObserver = @Sendable (SchedulerObservation) -> Void

/// Thread-safe accumulation of `SchedulerMetrics`.
// @unchecked Sendable: the metrics are read and updated only under `lock`.
final class SchedulerMetricsRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var metrics = SchedulerMetrics()
    private let observer: SchedulerObserver?
    private let window: Duration
    /// (time, generated tokens) per iteration inside the throughput window, oldest first.
    private var tokenWindow = EventRateWindow()
    private var stepWindow = EventRateWindow()

    init(observer: SchedulerObserver?, window: Duration) {
        self.observer = observer
        self.window = window
    }

    func snapshot() -> SchedulerMetrics {
        lock.lock()
        defer { lock.unlock() }
        return metrics
    }

    func update(_ change: (inout SchedulerMetrics) -> Void) {
        lock.lock()
        change(&metrics)
        lock.unlock()
    }

    func observe(_ observation: SchedulerObservation) {
        lock.lock()
        switch observation {
        case let .queueTime(seconds): metrics.queueTime.record(seconds)
        case let .timeToFirstToken(seconds): metrics.timeToFirstToken.record(seconds)
        case let .interTokenLatency(seconds): metrics.interTokenLatency.record(seconds)
        case let .endToEndLatency(seconds): metrics.endToEndLatency.record(seconds)
        case let .iteration(tokens, sequences):
            metrics.lastBatchTokens = tokens
            metrics.lastBatchSequences = sequences
        case let .imageLatency(seconds): metrics.imageLatency.record(seconds)
        case let .denoisingStep(generations, _):
            metrics.denoisingSteps += generations
            metrics.denoiserCalls += 1
        case .embeddingStep: break
        }
        lock.unlock()
        observer?(observation)
    }

    /// Records `count` denoising steps finished at `time` and refreshes `denoisingStepsPerSecond`.
    func recordDenoisingSteps(_ count: Int, at time: Duration) {
        lock.lock()
        defer { lock.unlock() }
        metrics.denoisingStepsPerSecond = stepWindow.record(count, at: time, window: window)
    }

    /// Records an iteration's generated tokens at `time` and refreshes `tokensPerSecond`.
    func recordThroughput(generated: Int, at time: Duration) {
        lock.lock()
        defer { lock.unlock() }
        metrics.tokensPerSecond = tokenWindow.record(generated, at: time, window: window)
    }
}

/// Events per second over a sliding window of time: (time, count) records, oldest dropped once
/// they fall out of the window. The rate counts what happened after the oldest record kept.
struct EventRateWindow {
    private var records: [(time: Duration, count: Int)] = []
    private var start = 0
    private var total = 0

    mutating func record(_ count: Int, at time: Duration, window: Duration) -> Double {
        records.append((time, count))
        total += count
        while time - records[start].time > window {
            total -= records[start].count
            start += 1
        }
        if start > 1024 {
            records.removeFirst(start)
            start = 0
        }
        let first = records[start]
        let span = (time - first.time).seconds
        return span > 0 ? Double(total - first.count) / span : 0
    }
}
