import Foundation
import KilnServe
import Testing

/// A scheduler with a fake language model and a fake embedding engine, on a manual clock.
struct EmbeddingHarness {
    let scheduler: Scheduler
    let text: FakeModelExecutor
    let embeddings: FakeEmbeddingExecutor
    let clock = ManualClock()

    init(_ configure: (inout SchedulerSettings) -> Void = { _ in }) throws {
        var settings = SchedulerSettings()
        settings.kvBlockCount = 64
        settings.kvBlockSize = 4
        settings.maxBatchSequences = 8
        settings.tokenBudgetPerIteration = 64
        settings.admissionReserveBlocks = 0
        configure(&settings)
        text = FakeModelExecutor(blockSize: settings.kvBlockSize, blockCount: settings.kvBlockCount)
        embeddings = FakeEmbeddingExecutor()
        scheduler = try Scheduler(settings: settings, executor: text, embeddingExecutor: embeddings, clock: clock)
    }

    @discardableResult
    func submit(_ inputs: [[TokenID]], model: String = "m", timeout: Duration? = nil) throws -> (job: Job, log: WorkEventLog) {
        let log = WorkEventLog()
        let job = try scheduler.submitEmbedding(EmbeddingJobRequest(model: model, inputs: inputs, timeout: timeout), onEvent: log.handler)
        return (job, log)
    }

    @discardableResult
    func runUntilIdle(limit: Int = 1000) -> Int {
        var count = 0
        while count < limit, scheduler.runIteration() { count += 1 }
        return count
    }
}

@Suite struct EmbeddingSchedulingTests {
    @Test func inputsOfSeveralRequestsShareOnePass() throws {
        let harness = try EmbeddingHarness()
        let requests = [[tokens(1, count: 3), tokens(10, count: 5)], [tokens(20, count: 2)], [tokens(30, count: 4), tokens(40, count: 1)]]
        let entries = try requests.map { try harness.submit($0) }
        #expect(harness.scheduler.metrics().queuedEmbeddingJobs == 3)
        harness.scheduler.runIteration()
        // No text runs: one pass takes every input, and runs with the large slice (45 rows of work
        // here: within one iteration).
        #expect(harness.embeddings.passes.count == 1)
        #expect(harness.embeddings.passes[0].inputs == requests.flatMap { $0 })
        #expect(harness.embeddings.advances == [harness.scheduler.settings.embeddingRowsPerIteration])
        for (entry, inputs) in zip(entries, requests) {
            #expect(entry.log.vectors == inputs.map { FakeEmbeddingExecutor.expectedVector($0, model: "m") })
            #expect(entry.log.usage?.promptTokens == inputs.reduce(0) { $0 + $1.count })
            #expect(entry.job.state == .finished(.stop))
        }
        let metrics = harness.scheduler.metrics()
        #expect(metrics.embeddingPasses == 1 && metrics.embeddingInputs == 5 && metrics.embeddingTokens == 15)
        #expect(metrics.jobsFinished == 3 && metrics.runningEmbeddingJobs == 0)
        #expect(harness.runUntilIdle() == 0)
    }

    @Test func aPassStaysWithinItsTokenBudgetAndALongInputRunsAlone() throws {
        let harness = try EmbeddingHarness { $0.embeddingPassTokens = 10 }
        let short = try harness.submit((0..<5).map { tokens($0 * 10, count: 4) })
        let long = try harness.submit([tokens(100, count: 25)])
        harness.runUntilIdle()
        #expect(harness.embeddings.passes.map { $0.inputs.map(\.count) } == [[4, 4], [4, 4], [4], [25]])
        #expect(short.log.vectors?.count == 5 && long.log.vectors?.count == 1)
    }

    @Test func passesHoldOneModel() throws {
        let harness = try EmbeddingHarness()
        let a = try harness.submit([tokens(1, count: 2)], model: "a")
        let b = try harness.submit([tokens(5, count: 2)], model: "bb")
        let a2 = try harness.submit([tokens(9, count: 2)], model: "a")
        harness.runUntilIdle()
        #expect(harness.embeddings.passes.map(\.model) == ["a", "bb"])
        #expect(harness.embeddings.passes[0].inputs.count == 2)
        #expect(b.log.vectors == [FakeEmbeddingExecutor.expectedVector(tokens(5, count: 2), model: "bb")])
        #expect(a.log.vectors != nil && a2.log.vectors != nil)
    }

    /// Text first: beside a running text sequence a pass is small and advances a small slice per
    /// iteration, and the sequence gets a token every iteration meanwhile.
    @Test func besideTextAPassIsSmallAndAdvancesASmallSlicePerIteration() throws {
        let harness = try EmbeddingHarness {
            $0.embeddingPassTokensBesideText = 6
            $0.embeddingRowsPerIterationBesideText = 6
        }
        let textLog = EventLog()
        let request = GenerationRequest(promptTokens: tokens(500, count: 4), maxNewTokens: 20, sampling: FakeSampling(seed: 3))
        _ = try harness.scheduler.submit(request, onEvent: textLog.handler)
        harness.scheduler.runIteration()
        #expect(textLog.tokens.count == 1)
        let entry = try harness.submit([tokens(1, count: 3), tokens(5, count: 3), tokens(9, count: 3)])
        for iteration in 1...3 {
            harness.scheduler.runIteration()
            #expect(textLog.tokens.count == 1 + iteration)
        }
        // Two inputs of 3 tokens: 18 rows of work, 6 per iteration.
        #expect(harness.embeddings.passes.map { $0.inputs.count } == [2])
        #expect(harness.embeddings.advances == [6, 6, 6])
        #expect(harness.embeddings.passes.count == 1)
        #expect(entry.log.vectors == nil)
        harness.runUntilIdle()
        #expect(entry.log.vectors?.count == 3)
        #expect(textLog.completion?.reason == .length && textLog.tokens.count == 20)
    }

    @Test func cancellingOneJobLeavesTheOthersWhole() throws {
        let harness = try EmbeddingHarness {
            $0.embeddingPassTokensBesideText = 100
        }
        // Keep text running so that the pass spreads over iterations.
        _ = try harness.scheduler.submit(
            GenerationRequest(promptTokens: tokens(500, count: 4), maxNewTokens: 30, sampling: FakeSampling(seed: 3)), onEvent: EventLog().handler)
        harness.scheduler.runIteration()
        let kept = try harness.submit([tokens(1, count: 2)])
        let cancelled = try harness.submit([tokens(7, count: 2)])
        let queued = try harness.submit([tokens(9, count: 2)])
        harness.scheduler.runIteration()
        cancelled.job.cancel()
        harness.runUntilIdle()
        #expect(cancelled.log.wasCancelled && cancelled.log.terminals.count == 1)
        #expect(kept.log.vectors == [FakeEmbeddingExecutor.expectedVector(tokens(1, count: 2), model: "m")])
        #expect(queued.log.vectors?.count == 1)
        #expect(harness.scheduler.metrics().jobsCancelled == 1)
    }

    @Test func aDeadlineEndsAJobThatWaitsTooLong() throws {
        let harness = try EmbeddingHarness { $0.maxRunningEmbeddingJobs = 1 }
        let first = try harness.submit([tokens(1, count: 2)])
        let late = try harness.submit([tokens(3, count: 2)], timeout: .seconds(1))
        harness.clock.advance(by: .seconds(2))
        harness.runUntilIdle()
        #expect(first.log.vectors != nil)
        #expect(late.log.error == .deadlineExceeded)
    }

    @Test func anInputTheExecutorRefusesFailsItsPassWithA400() throws {
        let harness = try EmbeddingHarness { $0.embeddingPassTokens = 2 }
        harness.embeddings.rejectedToken = 66
        let bad = try harness.submit([[66, 67]])
        let good = try harness.submit([[1, 2]])
        harness.runUntilIdle()
        #expect(bad.log.error == .invalidRequest("token 66 is not allowed"))
        #expect(good.log.vectors != nil)
    }

    @Test func anExecutorFailureFailsTheJobsOfThePass() throws {
        let harness = try EmbeddingHarness()
        harness.embeddings.failAdvance = true
        let entry = try harness.submit([tokens(1, count: 2)])
        harness.runUntilIdle()
        #expect(entry.log.error == .executorFailed("fake failure"))
        #expect(harness.scheduler.metrics().jobsFailed == 1)
    }

    @Test func submissionsAreCheckedFirst() throws {
        let harness = try EmbeddingHarness()
        #expect(throws: ServeError.self) { try harness.submit([]) }
        #expect(throws: ServeError.self) { try harness.submit([[1], []]) }
        let textOnly = try Harness()
        #expect(throws: ServeError.invalidRequest("this server has no embedding model")) {
            try textOnly.scheduler.submitEmbedding(EmbeddingJobRequest(model: "m", inputs: [[1]]), onEvent: { _ in })
        }
    }

    @Test func stoppingFailsRunningAndQueuedEmbeddingJobs() throws {
        let harness = try EmbeddingHarness {
            $0.maxRunningEmbeddingJobs = 1
            $0.embeddingRowsPerIterationBesideText = 1
        }
        _ = try harness.scheduler.submit(
            GenerationRequest(promptTokens: tokens(500, count: 4), maxNewTokens: 30, sampling: FakeSampling(seed: 3)), onEvent: EventLog().handler)
        harness.scheduler.runIteration()
        let running = try harness.submit([tokens(1, count: 2)])
        let queued = try harness.submit([tokens(3, count: 2)])
        harness.scheduler.runIteration()
        harness.scheduler.stop()
        #expect(running.log.error == .shuttingDown)
        #expect(queued.log.error == .shuttingDown)
    }
}
