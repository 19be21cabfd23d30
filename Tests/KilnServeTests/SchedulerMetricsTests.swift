import Foundation
import KilnServe
import Testing

/// Collects observations thread-safely.
private final class ObservationLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [SchedulerObservation] = []
    var observer: SchedulerObserver {
        { [self] observation in
            lock.lock()
            items.append(observation)
            lock.unlock()
        }
    }
    var all: [SchedulerObservation] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

@Suite("Metrics")
struct SchedulerMetricsTests {
    @Test func latenciesFollowTheClock() throws {
        let observations = ObservationLog()
        let harness = try Harness(observer: observations.observer)
        // Every executor call "takes" 10 ms.
        harness.executor.beforeExecute = { [clock = harness.clock] _ in clock.advance(by: .milliseconds(10)) }
        let (_, log) = try harness.submit(prompt: [1, 2, 3, 4, 5], maxNewTokens: 4)
        harness.clock.advance(by: .milliseconds(30))  // waits 30 ms in the queue
        harness.runUntilIdle()
        #expect(log.tokens.count == 4)
        let all = observations.all
        #expect(all.contains(.queueTime(seconds: 0.03)))
        #expect(all.contains(.timeToFirstToken(seconds: 0.04)))
        #expect(all.filter { $0 == .interTokenLatency(seconds: 0.01) }.count == 3)
        #expect(all.contains(.endToEndLatency(seconds: 0.07)))
        #expect(
            all.first { if case .iteration = $0 { return true } else { return false } }
                == .iteration(tokens: 5, sequences: 1))
        let metrics = harness.scheduler.metrics()
        #expect(metrics.timeToFirstToken.count == 1 && abs(metrics.timeToFirstToken.meanSeconds - 0.04) < 1e-9)
        #expect(metrics.interTokenLatency.count == 3 && abs(metrics.interTokenLatency.meanSeconds - 0.01) < 1e-9)
        // One token per 10 ms.
        #expect(abs(metrics.tokensPerSecond - 100) < 1e-6)
        #expect(metrics.generatedTokens == 4 && metrics.promptTokens == 5)
        #expect(metrics.iterations == 4 && metrics.lastBatchTokens == 1 && metrics.lastBatchSequences == 1)
        #expect(metrics.jobsSubmitted == 1 && metrics.jobsFinished == 1)
    }

    @Test func gaugesTrackQueueRunningAndBlocks() throws {
        let harness = try Harness { $0.maxBatchSequences = 2 }
        for index in 0..<3 {
            try harness.submit(prompt: tokens(index * 10, count: 6), maxNewTokens: 5)
        }
        var metrics = harness.scheduler.metrics()
        #expect(metrics.queuedJobs == 3 && metrics.waitingJobs == 3 && metrics.runningSequences == 0)
        #expect(metrics.kvBlocksTotal == 64 && metrics.kvBlocksFree == 64 && metrics.kvUsageRatio == 0)
        harness.scheduler.runIteration()
        metrics = harness.scheduler.metrics()
        #expect(metrics.queuedJobs == 1 && metrics.runningSequences == 2)
        #expect(metrics.kvBlocksUsed == 4)  // two sequences of 6 tokens: 2 blocks each
        #expect(metrics.kvUsageRatio == 4.0 / 64.0)
        harness.runUntilIdle()
        metrics = harness.scheduler.metrics()
        #expect(metrics.waitingJobs == 0 && metrics.runningSequences == 0 && metrics.kvBlocksUsed == 0)
        #expect(metrics.kvBlocksCached > 0)
        #expect(metrics.kvBlocksCached + metrics.kvBlocksFree == 64)
    }
}
