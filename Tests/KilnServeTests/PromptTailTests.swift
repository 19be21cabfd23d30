import KilnServe
import Testing

@Suite("Prompt tails: a repeated prompt's partial last block is copied, not recomputed")
struct PromptTailTests {
    /// A harness whose executor copies KV blocks (blocks of 4 tokens).
    private func copyingHarness(_ configure: (inout SchedulerSettings) -> Void = { _ in }) throws -> Harness {
        let harness = try Harness(configure)
        harness.executor.copiesBlocks = true
        return harness
    }

    @Test func aRepeatedPromptComputesOnlyItsLastToken() throws {
        let harness = try copyingHarness()
        let prompt = tokens(20, count: 11)  // two full blocks and a tail of three
        let (_, firstLog) = try harness.submit(prompt: prompt, maxNewTokens: 6)
        harness.runUntilIdle()
        #expect(firstLog.completion?.usage.cachedPromptTokens == 0)
        let (second, secondLog) = try harness.submit(prompt: prompt, maxNewTokens: 6, seed: 3)
        harness.runUntilIdle()
        #expect(secondLog.completion?.usage == TokenUsage(promptTokens: 11, cachedPromptTokens: 10, completionTokens: 6))
        let first = harness.executor.entries(of: second.id).first
        #expect(first?.start == 10 && first?.count == 1 && first?.samples == true)
        #expect(harness.executor.copies.count == 1)
        #expect(secondLog.tokens == FakeModel.reference(prompt: prompt, seed: 3, maxNewTokens: 6))
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }

    @Test func aPromptShorterThanABlockIsCopiedToo() throws {
        let harness = try copyingHarness()
        let prompt = tokens(5, count: 3)
        try harness.submit(prompt: prompt, maxNewTokens: 8)
        harness.runUntilIdle()
        let (second, secondLog) = try harness.submit(prompt: prompt, maxNewTokens: 8, seed: 9)
        harness.runUntilIdle()
        #expect(secondLog.completion?.usage.cachedPromptTokens == 2)
        #expect(harness.executor.entries(of: second.id).first?.start == 2)
        #expect(secondLog.tokens == FakeModel.reference(prompt: prompt, seed: 9, maxNewTokens: 8))
    }

    @Test func manyClientsCopyFromASequenceThatIsStillDecoding() throws {
        let harness = try copyingHarness()
        let prompt = tokens(300, count: 7)  // one full block and a tail of three
        let (_, ownerLog) = try harness.submit(prompt: prompt, maxNewTokens: 12)
        harness.scheduler.runIteration()
        harness.scheduler.runIteration()
        // The owner goes on writing generated tokens into the block the others copy.
        let followers = try (0..<5).map { try harness.submit(prompt: prompt, maxNewTokens: 12, seed: UInt64(10 + $0)) }
        harness.runUntilIdle()
        #expect(ownerLog.tokens == FakeModel.reference(prompt: prompt, seed: 1, maxNewTokens: 12))
        for (index, follower) in followers.enumerated() {
            #expect(follower.log.completion?.usage.cachedPromptTokens == 6)
            #expect(harness.executor.entries(of: follower.job.id).first?.start == 6)
            #expect(follower.log.tokens == FakeModel.reference(prompt: prompt, seed: UInt64(10 + index), maxNewTokens: 12))
        }
        #expect(harness.executor.copies.count == 5)
        #expect(harness.scheduler.invariantViolations().isEmpty)
    }

    @Test func aFreedTailBlockHandedBackToTheSamePromptNeedsNoCopy() throws {
        let harness = try copyingHarness()
        let prompt = tokens(40, count: 7)
        // One generated token: the tail block never fills, so it returns to the free list.
        try harness.submit(prompt: prompt, maxNewTokens: 1)
        harness.runUntilIdle()
        let (second, secondLog) = try harness.submit(prompt: prompt, maxNewTokens: 5, seed: 4)
        harness.runUntilIdle()
        #expect(harness.executor.entries(of: second.id).first?.start == 6)
        #expect(harness.executor.copies.isEmpty)
        #expect(secondLog.tokens == FakeModel.reference(prompt: prompt, seed: 4, maxNewTokens: 5))
    }

    @Test func executorsThatCannotCopyRecomputeTheTail() throws {
        let harness = try Harness()
        let prompt = tokens(20, count: 11)
        try harness.submit(prompt: prompt, maxNewTokens: 3)
        harness.runUntilIdle()
        let (second, secondLog) = try harness.submit(prompt: prompt, maxNewTokens: 3)
        harness.runUntilIdle()
        #expect(secondLog.completion?.usage.cachedPromptTokens == 8)
        #expect(harness.executor.entries(of: second.id).first?.start == 8)
    }

    @Test func theEntryDiesWhenItsBlockIsHandedOut() {
        let pool = KVBlockPool(blockCount: 2, blockSize: 4)
        let root = pool.rootChain
        guard let block = pool.allocateBlock() else {
            Issue.record("no block")
            return
        }
        pool.registerPromptTail(block, tokens: [1, 2][...], after: root)
        #expect(pool.cachedPromptTail(of: [1, 2][...], after: root) == block)
        #expect(pool.cachedPromptTail(of: [1, 3][...], after: root) == nil)
        #expect(pool.cachedPromptTail(of: [1][...], after: root) == nil)
        pool.release(block)
        #expect(pool.cachedPromptTail(of: [1, 2][...], after: root) == block)  // free, content intact
        #expect(pool.allocateBlock() == block)
        #expect(pool.cachedPromptTail(of: [1, 2][...], after: root) == nil)
        #expect(pool.promptTailCount == 0)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func theNewestCopyOfATailServesIt() {
        let pool = KVBlockPool(blockCount: 4, blockSize: 4)
        let root = pool.rootChain
        guard let first = pool.allocateBlock(), let second = pool.allocateBlock() else {
            Issue.record("no block")
            return
        }
        pool.registerPromptTail(first, tokens: [8, 9, 10][...], after: root)
        pool.registerPromptTail(second, tokens: [8, 9, 10][...], after: root)
        #expect(pool.cachedPromptTail(of: [8, 9, 10][...], after: root) == second)
        #expect(pool.promptTailCount == 1)
        // Handing out the first block again no longer touches the entry.
        pool.release(first)
        #expect(pool.allocateBlock() == first)
        #expect(pool.cachedPromptTail(of: [8, 9, 10][...], after: root) == second)
        #expect(pool.invariantViolations().isEmpty)
    }
}
