import KilnServe
import Testing

@Suite("Randomized stress")
struct SchedulerStressTests {
    private struct Submitted {
        var job: Job
        var log: EventLog
        var reference: [TokenID]
        var stopTokens: Set<TokenID>
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomTrafficKeepsEveryInvariant(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let harness = try Harness {
            $0.kvBlockCount = 24
            $0.kvBlockSize = 4
            $0.maxBatchSequences = 6
            $0.tokenBudgetPerIteration = 16
            $0.maxQueuedJobs = 10
            $0.admissionReserveBlocks = Int(seed % 3)
        }
        let sharedPrefixes = (0..<3).map { tokens(2000 + $0 * 100, count: 8) }
        var submitted: [Submitted] = []
        var refusedAsFull = 0

        for _ in 0..<600 {
            let live = submitted.filter { !$0.job.state.isTerminal }
            switch Int.random(in: 0..<20, using: &rng) {
            case 0..<5:
                var prompt = Bool.random(using: &rng) ? sharedPrefixes.randomElement(using: &rng)! : []
                prompt += (0..<Int.random(in: 1...14, using: &rng)).map { _ in TokenID.random(in: 0..<1000, using: &rng) }
                let maxNewTokens = Int.random(in: 1...24, using: &rng)
                let sampleSeed = UInt64.random(in: 0..<4, using: &rng)
                var stop: Set<TokenID> = []
                if Int.random(in: 0..<3, using: &rng) == 0 {
                    let free = FakeModel.reference(prompt: prompt, seed: sampleSeed, maxNewTokens: maxNewTokens)
                    stop = [free.randomElement(using: &rng)!]
                }
                let timeout: Duration? = Bool.random(using: &rng) ? .seconds(Int.random(in: 2...40, using: &rng)) : nil
                do {
                    let (job, log) = try harness.submit(
                        prompt: prompt, maxNewTokens: maxNewTokens, seed: sampleSeed,
                        priority: Int.random(in: 0...2, using: &rng),
                        stop: stop, timeout: timeout)
                    let reference = FakeModel.reference(
                        prompt: prompt, seed: sampleSeed,
                        maxNewTokens: maxNewTokens, stopTokenIDs: stop)
                    submitted.append(Submitted(job: job, log: log, reference: reference, stopTokens: stop))
                } catch ServeError.queueFull {
                    refusedAsFull += 1
                }
            case 5:
                live.randomElement(using: &rng)?.job.cancel()
            case 6:
                live.randomElement(using: &rng)?.job.requestStop()
            case 7:
                harness.clock.advance(by: .milliseconds(Int.random(in: 0...3000, using: &rng)))
            default:
                harness.scheduler.runIteration()
                let problems = harness.scheduler.invariantViolations()
                #expect(problems.isEmpty, "\(problems.prefix(3))")
                let metrics = harness.scheduler.metrics()
                #expect(metrics.kvBlocksUsed + metrics.kvBlocksCached + metrics.kvBlocksFree == 24)
                #expect(metrics.runningSequences <= 6)
            }
        }
        harness.runUntilIdle()

        #expect(submitted.count > 50)
        let metrics = harness.scheduler.metrics()
        #expect(metrics.kvBlocksUsed == 0 && metrics.runningSequences == 0 && metrics.waitingJobs == 0)
        #expect(harness.scheduler.invariantViolations().isEmpty)
        #expect(metrics.jobsFinished + metrics.jobsCancelled + metrics.jobsFailed == submitted.count)
        #expect(metrics.jobsRejected == refusedAsFull)
        let released = harness.executor.released
        #expect(Set(released).count == released.count)  // releaseSequence at most once per job

        var outcomes: [String: Int] = [:]
        for entry in submitted {
            let log = entry.log
            #expect(log.terminals.count == 1 && log.isWellOrdered)
            // Whatever happened, what was delivered is what the model generates alone.
            #expect(Array(entry.reference.prefix(log.tokens.count)) == log.tokens)
            switch entry.job.state {
            case .finished(.length):
                #expect(log.completion?.reason == .length)
                #expect(log.tokens == entry.reference && log.tokens.count == entry.job.textRequest.maxNewTokens)
                outcomes["length", default: 0] += 1
            case .finished(.stop):
                #expect(log.completion?.reason == .stop)
                if let stopToken = log.completion?.stopTokenID {
                    #expect(entry.reference.last == stopToken && log.tokens == Array(entry.reference.dropLast()))
                    outcomes["stop token", default: 0] += 1
                } else {
                    outcomes["stop request", default: 0] += 1
                }
            case .cancelled:
                #expect(log.completion?.reason == .cancelled)
                outcomes["cancelled", default: 0] += 1
            case .failed(let error):
                #expect(log.error == error && error == .deadlineExceeded)
                outcomes["deadline", default: 0] += 1
            case .queued, .running, .finished(.cancelled):
                Issue.record("job \(entry.job.id) ended in state \(entry.job.state)")
            }
            if case let .done(completion)? = log.terminals.first {
                #expect(completion.usage.promptTokens == entry.job.textRequest.promptTokens.count)
                #expect(completion.usage.cachedPromptTokens <= completion.usage.promptTokens - 1)
                #expect(completion.usage.cachedPromptTokens % 4 == 0)
            }
        }
        // The traffic really exercised the interesting paths.
        #expect(outcomes["length", default: 0] > 0 && outcomes["cancelled", default: 0] > 0)
        #expect(metrics.prefixCacheHitTokens > 0)
        #expect(metrics.preemptions > 0)
    }
}
