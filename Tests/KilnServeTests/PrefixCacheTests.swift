import KilnServe
import Testing

@Suite("Prefix caching through the scheduler")
struct PrefixCacheTests {
    @Test func sharedSystemPromptIsReused() throws {
        let harness = try Harness()
        let system = tokens(900, count: 20)  // five blocks of 4
        let firstPrompt = system + tokens(10, count: 7)
        let secondPrompt = system + tokens(40, count: 6)
        let (_, firstLog) = try harness.submit(prompt: firstPrompt, maxNewTokens: 5)
        harness.runUntilIdle()
        #expect(firstLog.completion?.usage.cachedPromptTokens == 0)
        let (second, secondLog) = try harness.submit(prompt: secondPrompt, maxNewTokens: 5, seed: 2)
        harness.runUntilIdle()
        #expect(secondLog.completion?.usage == TokenUsage(promptTokens: 26, cachedPromptTokens: 20, completionTokens: 5))
        #expect(harness.executor.entries(of: second.id).first?.start == 20)  // only the rest was computed
        #expect(secondLog.tokens == FakeModel.reference(prompt: secondPrompt, seed: 2, maxNewTokens: 5))
        let metrics = harness.scheduler.metrics()
        #expect(metrics.prefixCacheQueryTokens == 27 + 26)
        #expect(metrics.prefixCacheHitTokens == 20)
    }

    @Test func runningSequencesShareCachedBlocks() throws {
        let harness = try Harness()
        let system = tokens(900, count: 16)
        let (_, warmLog) = try harness.submit(prompt: system + [1], maxNewTokens: 1)
        harness.runUntilIdle()
        #expect(warmLog.terminals.count == 1)
        let jobs = try (0..<3).map { try harness.submit(prompt: system + tokens($0 * 5, count: 2), maxNewTokens: 6) }
        harness.scheduler.runIteration()
        // Three sequences hold the same four cached blocks plus one private block each.
        #expect(harness.scheduler.metrics().kvBlocksUsed == 4 + 3)
        harness.runUntilIdle()
        for (index, job) in jobs.enumerated() {
            #expect(job.log.completion?.usage.cachedPromptTokens == 16)
            #expect(job.log.tokens == FakeModel.reference(prompt: system + tokens(index * 5, count: 2), seed: 1, maxNewTokens: 6))
        }
    }

    @Test func aChatThatGrowsByOneTurnReusesTheWholeConversation() throws {
        let harness = try Harness()
        let turn1 = tokens(100, count: 11)
        let (_, firstLog) = try harness.submit(prompt: turn1, maxNewTokens: 6)
        harness.runUntilIdle()
        let reply = firstLog.tokens
        #expect(reply.count == 6)
        // The reply's K/V was computed up to its second-to-last token: 11 + 5 = 16 tokens, four
        // full blocks, all registered, reply tokens included.
        let turn2 = turn1 + reply + tokens(400, count: 5)
        let (second, secondLog) = try harness.submit(prompt: turn2, maxNewTokens: 4)
        harness.runUntilIdle()
        #expect(secondLog.completion?.usage.cachedPromptTokens == 16)
        #expect(harness.executor.entries(of: second.id).first?.start == 16)
        #expect(secondLog.tokens == FakeModel.reference(prompt: turn2, seed: 1, maxNewTokens: 4))
    }

    @Test func aFullyCachedPromptRecomputesItsLastBlock() throws {
        let harness = try Harness()
        let prompt = tokens(30, count: 12)  // exactly three blocks
        let (_, firstLog) = try harness.submit(prompt: prompt, maxNewTokens: 3)
        harness.runUntilIdle()
        let usedBefore = harness.scheduler.metrics().kvBlocksCached
        // Two identical requests at once: both reuse two blocks and each recomputes the third
        // privately (the fake executor rejects any write into a block another entry uses).
        let twins = try (0..<2).map { _ in try harness.submit(prompt: prompt, maxNewTokens: 3) }
        harness.runUntilIdle()
        for twin in twins {
            #expect(twin.log.completion?.usage.cachedPromptTokens == 8)
            let first = harness.executor.entries(of: twin.job.id).first
            #expect(first?.start == 8 && first?.count == 4 && first?.samples == true)
            #expect(twin.log.tokens == firstLog.tokens)
        }
        // The recomputed duplicates were not cached a second time.
        #expect(harness.scheduler.metrics().kvBlocksCached == usedBefore)
        // A prompt that is not block-aligned reuses every full block and computes the tail.
        let (longer, longerLog) = try harness.submit(prompt: prompt + [7, 7], maxNewTokens: 2)
        harness.runUntilIdle()
        #expect(longerLog.completion?.usage.cachedPromptTokens == 12)
        #expect(harness.executor.entries(of: longer.id).first?.start == 12)
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }

    @Test func differentSeedsShareTheCacheButNotTheTokens() throws {
        let harness = try Harness()
        let prompt = tokens(60, count: 17)
        let (_, a) = try harness.submit(prompt: prompt, maxNewTokens: 8, seed: 1)
        harness.runUntilIdle()
        let (_, b) = try harness.submit(prompt: prompt, maxNewTokens: 8, seed: 2)
        harness.runUntilIdle()
        #expect(b.completion?.usage.cachedPromptTokens == 16)
        #expect(a.tokens == FakeModel.reference(prompt: prompt, seed: 1, maxNewTokens: 8))
        #expect(b.tokens == FakeModel.reference(prompt: prompt, seed: 2, maxNewTokens: 8))
        #expect(a.tokens != b.tokens)
    }

    @Test func leastRecentlyUsedPromptsAreEvictedFirst() throws {
        // 12 blocks of 4: room for three cached 16-token prompts and nothing else.
        let harness = try Harness { $0.kvBlockCount = 12 }
        let a = tokens(0, count: 16), b = tokens(100, count: 16), c = tokens(200, count: 16)
        let d = tokens(300, count: 16)
        func run(_ prompt: [TokenID]) throws -> Int? {
            let (_, log) = try harness.submit(prompt: prompt, maxNewTokens: 1)
            harness.runUntilIdle()
            #expect(log.tokens.count == 1 || log.completion?.usage.completionTokens == 1)
            return log.completion?.usage.cachedPromptTokens
        }
        #expect(try run(a) == 0)
        #expect(try run(b) == 0)
        #expect(try run(c) == 0)
        #expect(harness.scheduler.metrics().kvBlocksCached == 12)
        #expect(harness.scheduler.metrics().kvBlocksFree == 0)
        #expect(try run(a) == 12)  // A is now the most recently used
        #expect(try run(d) == 0)  // needs 4 fresh blocks: B's are the oldest
        #expect(try run(c) == 12)  // C survived
        #expect(try run(a) == 12)  // A survived
        #expect(try run(b) == 0)  // B was evicted
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }

    @Test func hashCollisionsAreCaughtByComparingTokens() throws {
        // Every block hashes alike: without verification every prompt would "hit".
        let constant = BlockHashFunction { _, _ in 7 }
        let harness = try Harness(hashFunction: constant)
        let first = tokens(10, count: 12)
        let (_, firstLog) = try harness.submit(prompt: first, maxNewTokens: 4)
        harness.runUntilIdle()
        let other = tokens(50, count: 12)  // different tokens, same hashes
        let (_, otherLog) = try harness.submit(prompt: other, maxNewTokens: 4)
        harness.runUntilIdle()
        #expect(otherLog.completion?.usage.cachedPromptTokens == 0)
        #expect(otherLog.tokens == FakeModel.reference(prompt: other, seed: 1, maxNewTokens: 4))
        // Same first block, different second block: one block reused, never the colliding one.
        let mixed = Array(first[0..<4]) + tokens(80, count: 8)
        let (_, mixedLog) = try harness.submit(prompt: mixed, maxNewTokens: 4)
        harness.runUntilIdle()
        #expect(mixedLog.completion?.usage.cachedPromptTokens == 4)
        #expect(mixedLog.tokens == FakeModel.reference(prompt: mixed, seed: 1, maxNewTokens: 4))
        // The original prompt still gets its (only registered) first block back.
        let (_, againLog) = try harness.submit(prompt: first, maxNewTokens: 4)
        harness.runUntilIdle()
        #expect(againLog.completion?.usage.cachedPromptTokens == 4)
        #expect(againLog.tokens == firstLog.tokens)
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }
}
