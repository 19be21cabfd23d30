import KilnServe
import Testing

@Suite("Queue, admission, cancellation and deadlines")
struct SchedulerAdmissionTests {
    /// Order in which jobs produced their first token, by job id.
    private func firstTokenOrder(_ harness: Harness, _ jobs: [Job]) -> [SequenceID] {
        var order: [SequenceID] = []
        for call in harness.executor.calls {
            for entry in call where entry.samples && !order.contains(entry.id) { order.append(entry.id) }
        }
        return order.filter { id in jobs.contains { $0.id == id } }
    }

    @Test func samePriorityRunsInArrivalOrder() throws {
        let harness = try Harness {
            $0.maxBatchSequences = 1
            $0.tokenBudgetPerIteration = 4
        }
        let jobs = try (0..<4).map { try harness.submit(prompt: tokens($0 * 10, count: 3), maxNewTokens: 2).job }
        harness.runUntilIdle()
        #expect(firstTokenOrder(harness, jobs) == jobs.map(\.id))
        #expect(jobs.allSatisfy { $0.state == .finished(.length) })
    }

    @Test func higherPriorityIsAdmittedFirstThenFIFOWithinAPriority() throws {
        let harness = try Harness {
            $0.maxBatchSequences = 1
            $0.tokenBudgetPerIteration = 4
        }
        let low1 = try harness.submit(prompt: [1, 2], maxNewTokens: 1, priority: 0).job
        let high1 = try harness.submit(prompt: [3, 4], maxNewTokens: 1, priority: 5).job
        let low2 = try harness.submit(prompt: [5, 6], maxNewTokens: 1, priority: 0).job
        let high2 = try harness.submit(prompt: [7, 8], maxNewTokens: 1, priority: 5).job
        let urgent = try harness.submit(prompt: [9, 9], maxNewTokens: 1, priority: 9).job
        #expect(harness.scheduler.queue.waitingJobs.map(\.id) == [urgent, high1, high2, low1, low2].map(\.id))
        harness.runUntilIdle()
        #expect(
            firstTokenOrder(harness, [low1, high1, low2, high2, urgent])
                == [urgent, high1, high2, low1, low2].map(\.id))
    }

    @Test func fullQueueRefusesWithRetryAfter() throws {
        let harness = try Harness {
            $0.maxQueuedJobs = 2
            $0.queueFullRetryAfterSeconds = 3
        }
        try harness.submit(prompt: [1], maxNewTokens: 1)
        try harness.submit(prompt: [2], maxNewTokens: 1)
        let log = EventLog()
        #expect(throws: ServeError.queueFull(capacity: 2, retryAfterSeconds: 3)) {
            try harness.submit(prompt: [3], maxNewTokens: 1, log: log)
        }
        #expect(log.terminals.isEmpty)  // a refused job never gets events
        #expect(harness.scheduler.metrics().jobsRejected == 1)
        // Once the queue drains, submissions are accepted again.
        harness.scheduler.runIteration()
        #expect(harness.scheduler.metrics().queuedJobs == 0)
        try harness.submit(prompt: [3], maxNewTokens: 1)
    }

    @Test func invalidRequestsAreRefusedWithTheirReason() throws {
        let harness = try Harness {
            $0.kvBlockCount = 4
            $0.kvBlockSize = 4
        }  // 16 slots
        #expect(throws: ServeError.invalidRequest("the prompt is empty")) {
            try harness.submit(prompt: [], maxNewTokens: 1)
        }
        #expect(throws: ServeError.invalidRequest("maxNewTokens must be at least 1 (got 0)")) {
            try harness.submit(prompt: [1], maxNewTokens: 0)
        }
        #expect(throws: ServeError.invalidRequest("the timeout must be positive (got 0.0 seconds)")) {
            try harness.submit(prompt: [1], maxNewTokens: 1, timeout: .zero)
        }
        #expect(throws: ServeError.exceedsKVCapacity(requiredTokens: 17, capacityTokens: 16)) {
            try harness.submit(prompt: tokens(0, count: 10), maxNewTokens: 7)
        }
        #expect(throws: ServeError.exceedsKVCapacity(requiredTokens: Int.max, capacityTokens: 16)) {
            try harness.submit(prompt: [1], maxNewTokens: Int.max)
        }
        // Exactly the capacity is fine, and runs to the end without preemption trouble.
        let (job, log) = try harness.submit(prompt: tokens(0, count: 10), maxNewTokens: 6)
        harness.runUntilIdle()
        #expect(job.state == .finished(.length) && log.tokens.count == 6)
    }

    @Test func invalidSettingsAreRefused() {
        var settings = SchedulerSettings()
        settings.tokenBudgetPerIteration = 4
        settings.maxBatchSequences = 8
        #expect(throws: ServeError.self) {
            _ = try Scheduler(settings: settings, executor: FakeModelExecutor(blockSize: 16, blockCount: 1024))
        }
        settings = SchedulerSettings()
        settings.kvBlockSize = 0
        #expect(throws: ServeError.self) { try settings.validate() }
    }

    @Test func cancellingAQueuedJobRemovesItAtOnce() throws {
        let harness = try Harness { $0.maxBatchSequences = 1 }
        let (running, _) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 5)
        let (queued, log) = try harness.submit(prompt: [4, 5, 6], maxNewTokens: 5)
        harness.scheduler.runIteration()
        #expect(queued.state == .queued && harness.scheduler.metrics().queuedJobs == 1)
        queued.cancel()
        // Before any further iteration: out of the queue, terminal, event delivered.
        #expect(harness.scheduler.metrics().queuedJobs == 0)
        #expect(queued.state == .cancelled)
        #expect(
            log.completion
                == JobCompletion(
                    reason: .cancelled,
                    usage: TokenUsage(promptTokens: 3, cachedPromptTokens: 0, completionTokens: 0)))
        queued.cancel()  // idempotent
        harness.runUntilIdle()
        #expect(log.terminals.count == 1 && log.tokens.isEmpty)
        #expect(harness.executor.entries(of: queued.id).isEmpty)
        #expect(!harness.executor.released.contains(queued.id))  // never reached the executor
        #expect(running.state == .finished(.length))
        #expect(harness.scheduler.metrics().jobsCancelled == 1)
    }

    @Test func cancellingARunningJobFreesItsBlocksByTheNextIteration() throws {
        let harness = try Harness()
        let (keeper, keeperLog) = try harness.submit(prompt: tokens(0, count: 9), maxNewTokens: 20)
        let (victim, victimLog) = try harness.submit(prompt: tokens(100, count: 13), maxNewTokens: 20)
        for _ in 0..<3 { harness.scheduler.runIteration() }
        let before = harness.scheduler.metrics()
        #expect(before.runningSequences == 2)
        // keeper: 9 + 3 tokens → 3 blocks; victim: 13 + 3 → 4 blocks.
        #expect(before.kvBlocksUsed == 7)
        let tokensBefore = victimLog.tokens.count
        victim.cancel()
        #expect(victim.state == .cancelled)
        harness.scheduler.runIteration()
        let after = harness.scheduler.metrics()
        #expect(after.runningSequences == 1)
        #expect(after.kvBlocksUsed == 3)
        #expect(after.kvBlocksUsed + after.kvBlocksCached + after.kvBlocksFree == after.kvBlocksTotal)
        #expect(victimLog.completion?.reason == .cancelled)
        #expect(victimLog.completion?.usage.completionTokens == tokensBefore)
        #expect(victimLog.tokens.count == tokensBefore && victimLog.isWellOrdered)
        #expect(harness.executor.released.contains(victim.id))
        harness.runUntilIdle()
        #expect(keeper.state == .finished(.length))
        #expect(keeperLog.tokens == FakeModel.reference(prompt: tokens(0, count: 9), seed: 1, maxNewTokens: 20))
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }

    @Test func cancellingFromInsideTheEventHandlerStopsAtOnce() throws {
        let harness = try Harness()
        let log = EventLog()
        let (job, _) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 50, log: log)
        log.onToken = { token in if token.index == 2 { job.cancel() } }
        harness.runUntilIdle()
        #expect(log.tokens.count == 3 && log.completion?.reason == .cancelled && log.isWellOrdered)
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
    }

    @Test func stopTokenEndsWithReasonStopAndIsNotDelivered() throws {
        let harness = try Harness()
        let prompt = tokens(50, count: 6)
        let free = FakeModel.reference(prompt: prompt, seed: 3, maxNewTokens: 10)
        let stopToken = free[4]
        let (job, log) = try harness.submit(prompt: prompt, maxNewTokens: 10, seed: 3, stop: [stopToken])
        harness.runUntilIdle()
        let expected = FakeModel.reference(prompt: prompt, seed: 3, maxNewTokens: 10, stopTokenIDs: [stopToken])
        #expect(log.tokens == Array(expected.dropLast()))
        #expect(
            log.completion
                == JobCompletion(
                    reason: .stop, usage: TokenUsage(promptTokens: 6, cachedPromptTokens: 0, completionTokens: expected.count),
                    stopTokenID: stopToken))
        #expect(job.state == .finished(.stop))
    }

    @Test func requestStopIsTheHookForStopStrings() throws {
        let harness = try Harness()
        let log = EventLog()
        let (job, _) = try harness.submit(prompt: [9, 8, 7], maxNewTokens: 30, log: log)
        log.onToken = { token in if token.index == 3 { job.requestStop() } }
        harness.runUntilIdle()
        #expect(log.tokens.count == 4)
        #expect(log.completion?.reason == .stop && log.completion?.stopTokenID == nil)
        #expect(job.state == .finished(.stop))
        // From another thread (between iterations) it takes effect at the next iteration.
        let (other, otherLog) = try harness.submit(prompt: [9, 8, 7], maxNewTokens: 30)
        harness.scheduler.runIteration()
        harness.scheduler.runIteration()
        other.requestStop()
        harness.scheduler.runIteration()
        #expect(otherLog.tokens.count == 2 && otherLog.completion?.reason == .stop)
    }

    @Test func deadlinesEndQueuedAndRunningJobs() throws {
        let harness = try Harness { $0.maxBatchSequences = 1 }
        let (running, runningLog) = try harness.submit(prompt: [1, 2], maxNewTokens: 100, timeout: .seconds(5))
        let (queued, queuedLog) = try harness.submit(prompt: [3, 4], maxNewTokens: 5, timeout: .seconds(2))
        let (patient, patientLog) = try harness.submit(prompt: [5, 6], maxNewTokens: 3)
        harness.scheduler.runIteration()
        harness.clock.advance(by: .seconds(2))
        harness.scheduler.runIteration()
        #expect(queued.state == .failed(.deadlineExceeded))
        #expect(queuedLog.error == .deadlineExceeded && queuedLog.tokens.isEmpty)
        #expect(running.state == .running)
        harness.clock.advance(by: .seconds(3))
        harness.scheduler.runIteration()
        #expect(running.state == .failed(.deadlineExceeded))
        #expect(runningLog.error == .deadlineExceeded && runningLog.tokens.count == 2)
        #expect(harness.executor.released.contains(running.id))
        harness.runUntilIdle()
        #expect(patient.state == .finished(.length) && patientLog.tokens.count == 3)
        #expect(harness.scheduler.metrics().jobsFailed == 2)
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
    }

    @Test func executorFailureFailsTheBatchAndServingGoesOn() throws {
        let harness = try Harness()
        let (first, firstLog) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 4)
        harness.scheduler.runIteration()
        harness.executor.failNextCall = true
        harness.scheduler.runIteration()
        #expect(first.state == .failed(.executorFailed("injected failure")))
        #expect(firstLog.error == .executorFailed("injected failure") && firstLog.terminals.count == 1)
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
        let (second, secondLog) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 4)
        harness.runUntilIdle()
        #expect(second.state == .finished(.length))
        #expect(secondLog.tokens == FakeModel.reference(prompt: [1, 2, 3], seed: 1, maxNewTokens: 4))
    }

    @Test func theEventHandlerIsReleasedAfterTheTerminalEvent() throws {
        // A connection keeps its job (to cancel it) and the job's handler keeps the connection.
        final class Connection: @unchecked Sendable { var job: Job? }
        weak var weakConnection: Connection?
        let harness = try Harness()
        do {
            let connection = Connection()
            weakConnection = connection
            connection.job = try harness.scheduler.submit(
                GenerationRequest(promptTokens: [1, 2], maxNewTokens: 2)
            ) { _ in _ = connection.job }
        }
        #expect(weakConnection != nil)  // the cycle keeps it alive while the job runs
        harness.runUntilIdle()
        #expect(weakConnection == nil)
    }

    @Test func outputsInAnyOrderAreMatchedAndAMissingOneFailsOnlyItsSequence() throws {
        /// Returns the fake's outputs reversed, dropping the one of `dropped`.
        final class Shuffling: BatchExecutor {
            let inner: FakeModelExecutor
            var dropped: SequenceID?
            init(_ inner: FakeModelExecutor) { self.inner = inner }
            func execute(_ batch: ExecutorBatch) throws -> [ExecutorOutput] {
                try inner.execute(batch).reversed().filter { $0.sequenceID != dropped }
            }
        }
        var settings = SchedulerSettings()
        settings.kvBlockCount = 64
        settings.kvBlockSize = 4
        let executor = Shuffling(FakeModelExecutor(blockSize: 4, blockCount: 64))
        let scheduler = try Scheduler(settings: settings, executor: executor, clock: ManualClock())
        let prompts: [[TokenID]] = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
        let logs = prompts.map { _ in EventLog() }
        let jobs = try prompts.enumerated().map { index, prompt in
            try scheduler.submit(
                GenerationRequest(
                    promptTokens: prompt, maxNewTokens: 6,
                    sampling: FakeSampling(seed: 5)), onEvent: logs[index].handler)
        }
        scheduler.runIteration()
        scheduler.runIteration()
        executor.dropped = jobs[1].id
        while scheduler.runIteration() {}
        #expect(jobs[1].state == .failed(.executorFailed("the executor returned no token for sequence \(jobs[1].id)")))
        #expect(logs[1].tokens.count == 2 && logs[1].terminals.count == 1)
        for index in [0, 2] {
            #expect(jobs[index].state == .finished(.length))
            #expect(logs[index].tokens == FakeModel.reference(prompt: prompts[index], seed: 5, maxNewTokens: 6))
        }
        #expect(scheduler.metrics().kvBlocksUsed == 0)
        #expect(scheduler.invariantViolations().isEmpty)
    }

    @Test func drainingRefusesNewWorkAndStopFailsWhatIsLeft() throws {
        let harness = try Harness { $0.maxBatchSequences = 1 }
        let (running, runningLog) = try harness.submit(prompt: [1, 2], maxNewTokens: 50)
        let (queued, queuedLog) = try harness.submit(prompt: [3, 4], maxNewTokens: 5)
        harness.scheduler.runIteration()
        harness.scheduler.beginDraining()
        #expect(throws: ServeError.shuttingDown) { try harness.submit(prompt: [5], maxNewTokens: 1) }
        harness.scheduler.runIteration()
        #expect(running.state == .running)
        harness.scheduler.stop()
        #expect(running.state == .failed(.shuttingDown) && runningLog.error == .shuttingDown)
        #expect(queued.state == .failed(.shuttingDown) && queuedLog.error == .shuttingDown)
        #expect(harness.scheduler.metrics().kvBlocksUsed == 0)
        #expect(!harness.scheduler.runIteration())
    }
}
