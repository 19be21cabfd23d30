import Foundation
import KilnServe
import Testing

@Suite("The scheduler thread")
struct SchedulerThreadTests {
    private func makeScheduler(_ executor: FakeModelExecutor, blocks: Int = 256) throws -> Scheduler {
        var settings = SchedulerSettings()
        settings.kvBlockCount = blocks
        settings.kvBlockSize = 4
        settings.maxBatchSequences = 8
        settings.tokenBudgetPerIteration = 32
        return try Scheduler(settings: settings, executor: executor)
    }

    /// Polls a condition for up to `seconds`.
    private func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return condition()
    }

    @Test func servesConcurrentSubmittersThenSleepsWhenIdle() throws {
        let executor = FakeModelExecutor(blockSize: 4, blockCount: 256)
        let scheduler = try makeScheduler(executor)
        scheduler.start()
        defer { scheduler.stop() }
        let prompts = (0..<12).map { tokens($0 * 40, count: 5 + $0) }
        let logs = prompts.map { _ in EventLog() }
        DispatchQueue.concurrentPerform(iterations: prompts.count) { index in
            let request = GenerationRequest(
                promptTokens: prompts[index], maxNewTokens: 16,
                sampling: FakeSampling(seed: UInt64(index)))
            _ = try? scheduler.submit(request, onEvent: logs[index].handler)
        }
        for (index, log) in logs.enumerated() {
            #expect(log.waitForEnd(seconds: 10))
            #expect(log.tokens == FakeModel.reference(prompt: prompts[index], seed: UInt64(index), maxNewTokens: 16))
        }
        #expect(eventually(2) { scheduler.metrics().runningSequences == 0 })
        // Idle: the loop waits on its condition instead of spinning through empty iterations.
        let iterations = scheduler.metrics().iterations
        Thread.sleep(forTimeInterval: 0.1)
        #expect(scheduler.metrics().iterations == iterations)
        // And it wakes up for new work.
        let late = EventLog()
        _ = try scheduler.submit(GenerationRequest(promptTokens: [1, 2, 3], maxNewTokens: 2), onEvent: late.handler)
        #expect(late.waitForEnd(seconds: 5))
        #expect(late.completion?.reason == .length)
    }

    @Test func cancellationFromAnotherThreadFreesBlocksQuickly() throws {
        let executor = FakeModelExecutor(blockSize: 4, blockCount: 256)
        // Slow the "model" down so the job is certainly running when it is cancelled.
        executor.beforeExecute = { _ in Thread.sleep(forTimeInterval: 0.001) }
        let scheduler = try makeScheduler(executor)
        scheduler.start()
        defer { scheduler.stop() }
        let log = EventLog()
        let firstToken = DispatchSemaphore(value: 0)
        log.onToken = { token in if token.index == 2 { firstToken.signal() } }
        let job = try scheduler.submit(
            GenerationRequest(promptTokens: tokens(0, count: 30), maxNewTokens: 900),
            onEvent: log.handler)
        #expect(firstToken.wait(timeout: .now() + 5) == .success)
        #expect(scheduler.metrics().kvBlocksUsed > 0)
        DispatchQueue.global().async { job.cancel() }
        #expect(log.waitForEnd(seconds: 5))
        #expect(log.completion?.reason == .cancelled && log.isWellOrdered)
        #expect(
            eventually(1) {
                let metrics = scheduler.metrics()
                return metrics.kvBlocksUsed == 0 && metrics.runningSequences == 0
            })
    }

    @Test func stopFromAnEventHandlerNeitherDeadlocksNorLeaks() throws {
        // Driven by hand: the teardown happens when the iteration ends.
        let harness = try Harness()
        let log = EventLog()
        let (job, _) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 50, log: log)
        let (other, otherLog) = try harness.submit(prompt: [4, 5, 6], maxNewTokens: 50)
        log.onToken = { [scheduler = harness.scheduler] token in if token.index == 1 { scheduler.stop() } }
        harness.runUntilIdle()
        #expect(job.state == .failed(.shuttingDown) && log.tokens.count == 2 && log.terminals.count == 1)
        #expect(other.state == .failed(.shuttingDown) && otherLog.terminals.count == 1)
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
        harness.scheduler.stop()  // idempotent

        // On the scheduler thread: the thread winds down by itself; stop() from outside then
        // returns at once.
        let executor = FakeModelExecutor(blockSize: 4, blockCount: 256)
        let scheduler = try makeScheduler(executor)
        scheduler.start()
        let threadLog = EventLog()
        threadLog.onToken = { token in if token.index == 1 { scheduler.stop() } }
        _ = try scheduler.submit(GenerationRequest(promptTokens: [1, 2], maxNewTokens: 100), onEvent: threadLog.handler)
        #expect(threadLog.waitForEnd(seconds: 5))
        #expect(threadLog.error == .shuttingDown && threadLog.tokens.count == 2)
        scheduler.stop()
        scheduler.stop()
        #expect(scheduler.metrics().kvBlocksUsed == 0)
    }

    /// A language model unloaded to make room for another stops its scheduler: the scheduler and
    /// its executor (the engine, its weights and KV cache) must then be freed.
    @Test func aStoppedSchedulerIsFreedWithItsExecutor() throws {
        weak var weakScheduler: Scheduler?
        weak var weakExecutor: FakeModelExecutor?
        do {
            let executor = FakeModelExecutor(blockSize: 4, blockCount: 256)
            let scheduler = try makeScheduler(executor)
            scheduler.start()
            let log = EventLog()
            _ = try scheduler.submit(GenerationRequest(promptTokens: [1, 2], maxNewTokens: 4), onEvent: log.handler)
            #expect(log.waitForEnd(seconds: 5))
            scheduler.stop()
            weakScheduler = scheduler
            weakExecutor = executor
        }
        #expect(eventually(5) { weakScheduler == nil && weakExecutor == nil })
    }

    @Test func randomConcurrentSubmitAndCancelLeaksNothing() throws {
        let executor = FakeModelExecutor(blockSize: 4, blockCount: 40)
        let scheduler = try makeScheduler(executor, blocks: 40)
        scheduler.start()
        let logs = (0..<64).map { _ in EventLog() }
        let jobs = JobBox()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var rng = SplitMix64(state: UInt64(worker + 1))
            for index in stride(from: worker, to: logs.count, by: 4) {
                let prompt = (0..<Int.random(in: 1...20, using: &rng)).map { _ in TokenID.random(in: 0..<1000, using: &rng) }
                let request = GenerationRequest(
                    promptTokens: prompt, maxNewTokens: Int.random(in: 1...30, using: &rng),
                    sampling: FakeSampling(seed: 1))
                if let job = try? scheduler.submit(request, onEvent: logs[index].handler) { jobs.append(job) }
                if Bool.random(using: &rng) { jobs.random(using: &rng)?.cancel() }
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.002, using: &rng))
            }
        }
        #expect(eventually(10) { jobs.all.allSatisfy { $0.state.isTerminal } })
        scheduler.stop()
        let submittedLogs = logs.filter { !$0.terminals.isEmpty || !$0.tokens.isEmpty }
        #expect(submittedLogs.count == jobs.all.count)
        #expect(submittedLogs.allSatisfy { $0.terminals.count == 1 && $0.isWellOrdered })
        #expect(scheduler.invariantViolations().isEmpty)
        #expect(scheduler.metrics().kvBlocksUsed == 0)
        #expect(throws: ServeError.shuttingDown) {
            _ = try scheduler.submit(GenerationRequest(promptTokens: [1], maxNewTokens: 1), onEvent: { _ in })
        }
    }
}

/// A thread-safe list of jobs.
private final class JobBox: @unchecked Sendable {
    private let lock = NSLock()
    private var jobs: [Job] = []

    func append(_ job: Job) {
        lock.lock()
        jobs.append(job)
        lock.unlock()
    }

    func random(using rng: inout SplitMix64) -> Job? {
        lock.lock()
        defer { lock.unlock() }
        return jobs.randomElement(using: &rng)
    }

    var all: [Job] {
        lock.lock()
        defer { lock.unlock() }
        return jobs
    }
}
