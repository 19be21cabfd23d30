import KilnServe
import Testing

@Suite("Batching: chunked prefill, determinism, preemption")
struct SchedulerBatchingTests {
    @Test func chunkedPrefillRespectsTheBudgetWhileOthersKeepDecoding() throws {
        let harness = try Harness { $0.tokenBudgetPerIteration = 8 }
        let (streamer, streamerLog) = try harness.submit(prompt: [1, 2, 3], maxNewTokens: 40)
        harness.scheduler.runIteration()
        harness.scheduler.runIteration()
        let longPrompt = tokens(200, count: 30)
        let (long, longLog) = try harness.submit(prompt: longPrompt, maxNewTokens: 3)
        let callsBefore = harness.executor.calls.count
        let tokensBefore = streamerLog.tokens.count
        harness.runUntilIdle()
        let calls = harness.executor.calls
        #expect(calls.allSatisfy { call in call.reduce(0) { $0 + $1.count } <= 8 })
        // The long prompt arrives in chunks of 7 (budget 8 minus the streamer's one token).
        let longEntries = harness.executor.entries(of: long.id)
        #expect(longEntries.prefix(5).map(\.start) == [0, 7, 14, 21, 28])
        #expect(longEntries.prefix(5).map(\.count) == [7, 7, 7, 7, 2])
        #expect(longEntries.prefix(5).map(\.samples) == [false, false, false, false, true])
        // Meanwhile the streamer got exactly one decode step in every call, one token each.
        for call in calls[callsBefore..<callsBefore + 5] {
            #expect(call.contains { $0.id == streamer.id && $0.count == 1 && $0.samples })
        }
        #expect(streamerLog.tokens.count - tokensBefore >= 5)
        #expect(streamerLog.tokens == FakeModel.reference(prompt: [1, 2, 3], seed: 1, maxNewTokens: 40))
        #expect(longLog.tokens == FakeModel.reference(prompt: longPrompt, seed: 1, maxNewTokens: 3))
    }

    @Test func budgetIsSharedOldestFirstAndNothingStarves() throws {
        let harness = try Harness {
            $0.tokenBudgetPerIteration = 10
            $0.maxBatchSequences = 4
        }
        let prompts = (0..<3).map { tokens($0 * 100, count: 25) }
        let jobs = try prompts.map { try harness.submit(prompt: $0, maxNewTokens: 4) }
        harness.runUntilIdle()
        let first = harness.executor.calls[0]
        #expect(first.map(\.count) == [10])  // the oldest takes the whole budget first
        for (index, job) in jobs.enumerated() {
            #expect(job.log.tokens == FakeModel.reference(prompt: prompts[index], seed: 1, maxNewTokens: 4))
        }
        #expect(harness.executor.calls.allSatisfy { call in call.reduce(0) { $0 + $1.count } <= 10 })
    }

    @Test func sameTokensAloneAndAmongFifteenOthers() throws {
        let prompt = tokens(500, count: 23)
        let alone = try Harness()
        let (_, aloneLog) = try alone.submit(prompt: prompt, maxNewTokens: 24, seed: 42)
        alone.runUntilIdle()

        let crowded = try Harness {
            $0.maxBatchSequences = 16
            $0.tokenBudgetPerIteration = 32
            $0.kvBlockCount = 512
        }
        var others: [(job: Job, log: EventLog, prompt: [TokenID], seed: UInt64)] = []
        for index in 0..<15 {
            // Some share the beginning of our prompt, so cache reuse is part of the mix.
            let other =
                index % 3 == 0
                ? Array(prompt[0..<12]) + tokens(index * 37, count: index + 1)
                : tokens(1000 + index * 50, count: 5 + index * 3)
            let submitted = try crowded.submit(prompt: other, maxNewTokens: 30 + index, seed: UInt64(index))
            others.append((submitted.job, submitted.log, other, UInt64(index)))
            if index == 7 { crowded.scheduler.runIteration() }
        }
        let (_, crowdedLog) = try crowded.submit(prompt: prompt, maxNewTokens: 24, seed: 42)
        crowded.runUntilIdle()

        #expect(aloneLog.tokens.count == 24)
        #expect(crowdedLog.tokens == aloneLog.tokens)
        #expect(crowdedLog.tokens == FakeModel.reference(prompt: prompt, seed: 42, maxNewTokens: 24))
        #expect(crowded.executor.calls.contains { $0.count == 16 })  // really batched 16 together
        for other in others {
            #expect(
                other.log.tokens
                    == FakeModel.reference(
                        prompt: other.prompt, seed: other.seed,
                        maxNewTokens: other.job.textRequest.maxNewTokens))
        }
    }

    @Test func preemptionUnderPoolPressureGivesTheSameTokens() throws {
        // 12 blocks of 4 = 48 slots; four jobs of 10 + 20 tokens need 32 slots each.
        let pressured = try Harness {
            $0.kvBlockCount = 12
            $0.maxBatchSequences = 4
            $0.tokenBudgetPerIteration = 64
        }
        let prompts = (0..<4).map { tokens(300 + $0 * 20, count: 10) }
        let jobs = try prompts.enumerated().map { index, prompt in
            try pressured.submit(prompt: prompt, maxNewTokens: 20, seed: UInt64(index))
        }
        var iterations = 0
        while pressured.scheduler.runIteration() {
            iterations += 1
            #expect(pressured.scheduler.invariantViolations().isEmpty)
            #expect(iterations < 1000)
        }
        let metrics = pressured.scheduler.metrics()
        #expect(metrics.preemptions > 0)
        for (index, job) in jobs.enumerated() {
            #expect(job.job.state == .finished(.length))
            #expect(job.log.isWellOrdered && job.log.terminals.count == 1)
            #expect(job.log.tokens == FakeModel.reference(prompt: prompts[index], seed: UInt64(index), maxNewTokens: 20))
        }
        // The oldest job is never the one preempted: its positions only move forward.
        let oldest = pressured.executor.entries(of: jobs[0].job.id)
        #expect(zip(oldest, oldest.dropFirst()).allSatisfy { $1.start == $0.start + $0.count })
        // The youngest was preempted and recomputed: its positions went back at least once.
        let youngest = pressured.executor.entries(of: jobs[3].job.id)
        #expect(zip(youngest, youngest.dropFirst()).contains { $1.start < $0.start + $0.count })
        #expect(metrics.kvBlocksUsed == 0)
        // Executor state is released once per job, never on preemption.
        #expect(pressured.executor.released.sorted() == jobs.map(\.job.id).sorted())
    }

    @Test func preemptionWithSharedPrefixesAndLowPriorityVictims() throws {
        let harness = try Harness {
            $0.kvBlockCount = 16
            $0.maxBatchSequences = 6
            $0.tokenBudgetPerIteration = 16
        }
        let system = tokens(700, count: 8)
        var jobs: [(job: Job, log: EventLog, prompt: [TokenID])] = []
        for index in 0..<6 {
            let prompt = system + tokens(index * 11, count: 3 + index)
            let submitted = try harness.submit(
                prompt: prompt, maxNewTokens: 18, seed: 9,
                priority: index == 0 ? 0 : (index % 2))
            jobs.append((submitted.job, submitted.log, prompt))
        }
        var iterations = 0
        while harness.scheduler.runIteration() {
            iterations += 1
            #expect(harness.scheduler.invariantViolations().isEmpty)
            #expect(iterations < 2000)
        }
        #expect(harness.scheduler.metrics().preemptions > 0)
        for job in jobs {
            #expect(job.job.state == .finished(.length))
            #expect(job.log.tokens == FakeModel.reference(prompt: job.prompt, seed: 9, maxNewTokens: 18))
        }
    }
}
