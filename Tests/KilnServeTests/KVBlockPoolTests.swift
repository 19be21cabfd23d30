import KilnServe
import Testing

@Suite("KV block pool")
struct KVBlockPoolTests {
    /// Fills `blocks` blocks with `tokens` and registers them as one sequence would.
    private func computeSequence(_ pool: KVBlockPool, _ tokens: [TokenID]) -> [KVBlockID] {
        let blockSize = pool.blockSize
        var table: [KVBlockID] = []
        var link: KVBlockPool.ChainLink? = pool.rootChain
        for index in 0..<tokens.count / blockSize {
            let block = pool.allocateBlock()!
            table.append(block)
            if let parent = link {
                link = pool.registerFullBlock(
                    block, tokens: tokens[index * blockSize..<(index + 1) * blockSize],
                    after: parent)
            }
        }
        return table
    }

    @Test func countsAddUpThroughAllocateReleaseAndReuse() {
        let pool = KVBlockPool(blockCount: 8, blockSize: 4)
        #expect(pool.freeBlockCount == 8 && pool.usedBlockCount == 0 && pool.cachedBlockCount == 0)
        let table = computeSequence(pool, tokens(100, count: 12))
        #expect(pool.usedBlockCount == 3 && pool.freeBlockCount == 5)
        let scratch = pool.allocateBlock()!  // never registered
        pool.release(table: table)
        pool.release(scratch)
        #expect(pool.usedBlockCount == 0)
        #expect(pool.cachedBlockCount == 3)  // registered blocks stay cached
        #expect(pool.freeBlockCount == 5)  // the unregistered one went back to the free list
        let match = pool.longestCachedPrefix(of: tokens(100, count: 13), maxBlocks: 10)
        #expect(match.blocks == table)
        for block in match.blocks { pool.retain(block) }
        #expect(pool.usedBlockCount == 3 && pool.cachedBlockCount == 0)
        pool.retain(match.blocks[0])
        #expect(pool.refCount(of: match.blocks[0]) == 2)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func lookupStopsAtFirstDifferenceAndRespectsTheLimit() {
        let pool = KVBlockPool(blockCount: 8, blockSize: 4)
        let prompt = tokens(0, count: 16)
        let table = computeSequence(pool, prompt)
        var other = prompt
        other[9] = 999  // differs inside the third block
        #expect(pool.longestCachedPrefix(of: other, maxBlocks: 8).blocks == Array(table[0..<2]))
        #expect(pool.longestCachedPrefix(of: prompt, maxBlocks: 3).blocks == Array(table[0..<3]))
        #expect(pool.longestCachedPrefix(of: Array(prompt[0..<7]), maxBlocks: 8).blocks == [table[0]])
        var shifted = prompt
        shifted.insert(5, at: 0)  // same tokens at other positions: no match at all
        #expect(pool.longestCachedPrefix(of: shifted, maxBlocks: 8).blocks.isEmpty)
    }

    @Test func evictsLeastRecentlyReleasedFirstAndReuseRefreshes() {
        let pool = KVBlockPool(blockCount: 6, blockSize: 2)
        let a = computeSequence(pool, tokens(10, count: 2))
        let b = computeSequence(pool, tokens(20, count: 2))
        let c = computeSequence(pool, tokens(30, count: 2))
        pool.release(table: a)
        pool.release(table: b)
        pool.release(table: c)
        #expect(pool.evictionOrder == [a[0], b[0], c[0]])
        // Reusing A makes it the most recently used once released again.
        let matchA = pool.longestCachedPrefix(of: tokens(10, count: 3), maxBlocks: 1)
        #expect(matchA.blocks == a)
        pool.retain(a[0])
        pool.release(a[0])
        #expect(pool.evictionOrder == [b[0], c[0], a[0]])
        // Three free blocks go first; then B, then C are evicted, A survives.
        for _ in 0..<3 { _ = pool.allocateBlock() }
        #expect(pool.cachedBlockCount == 3)
        #expect(pool.allocateBlock() == b[0])
        #expect(pool.longestCachedPrefix(of: tokens(20, count: 2), maxBlocks: 1).blocks.isEmpty)
        #expect(pool.allocateBlock() == c[0])
        #expect(pool.longestCachedPrefix(of: tokens(10, count: 2), maxBlocks: 1).blocks == a)
        #expect(pool.allocateBlock() == a[0])
        #expect(pool.allocateBlock() == nil)  // everything in use: no crash, just nil
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func releasingATableQueuesItsTailForEvictionBeforeItsHead() {
        let pool = KVBlockPool(blockCount: 4, blockSize: 2)
        let table = computeSequence(pool, tokens(0, count: 6))
        pool.release(table: table)
        #expect(pool.evictionOrder == table.reversed())
    }

    @Test func collidingHashesNeverShareContentThatDiffers() {
        // Every block hashes to 42: the index can hold one entry, and lookups must compare.
        let constant = BlockHashFunction { _, _ in 42 }
        let pool = KVBlockPool(blockCount: 8, blockSize: 2, hashFunction: constant)
        let first = computeSequence(pool, [1, 2, 3, 4])
        // Block 0 registered; block 1 collided with it, so the chain stopped there.
        #expect(pool.isRegistered(first[0]) && !pool.isRegistered(first[1]))
        #expect(pool.longestCachedPrefix(of: [7, 8, 3, 4], maxBlocks: 2).blocks.isEmpty)
        #expect(pool.longestCachedPrefix(of: [1, 2, 3, 4], maxBlocks: 2).blocks == [first[0]])
        // Same hash, same tokens, different parent: the candidate [1, 2] is at position 0,
        // not after [1, 2], so the second block of [1, 2, 1, 2] must not match it.
        #expect(pool.longestCachedPrefix(of: [1, 2, 1, 2], maxBlocks: 2).blocks == [first[0]])
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func parentIdentityIsCheckedEvenWhenTokensAndHashMatch() {
        // A hash that ignores the parent: block [5, 6] after [1, 2] and after [3, 4] collide.
        let parentBlind = BlockHashFunction { _, tokens in
            tokens.reduce(7) { $0 &* 31 &+ UInt64(UInt32(bitPattern: $1)) }
        }
        let pool = KVBlockPool(blockCount: 8, blockSize: 2, hashFunction: parentBlind)
        let x = computeSequence(pool, [1, 2, 5, 6])  // registers [1,2] and [5,6]-after-[1,2]
        let y = computeSequence(pool, [3, 4, 9, 9])  // registers [3,4]
        #expect(pool.isRegistered(x[1]) && pool.isRegistered(y[0]))
        // [3, 4, 5, 6]: the first block matches y[0]; the index entry for [5, 6] is x[1], whose
        // parent is x[0], not y[0]: it must be refused although hash and tokens agree.
        #expect(pool.longestCachedPrefix(of: [3, 4, 5, 6], maxBlocks: 2).blocks == [y[0]])
        #expect(pool.longestCachedPrefix(of: [1, 2, 5, 6], maxBlocks: 2).blocks == x)
    }

    @Test func duplicateContentKeepsTheCanonicalBlockAndContinuesItsChain() {
        let pool = KVBlockPool(blockCount: 8, blockSize: 2)
        let first = computeSequence(pool, [1, 2, 3, 4])
        // A second sequence recomputes the same first block privately.
        let duplicate = pool.allocateBlock()!
        let link = pool.registerFullBlock(duplicate, tokens: [1, 2], after: pool.rootChain)
        #expect(link != nil)
        #expect(!pool.isRegistered(duplicate))
        // Its next block, registered after the canonical link, is found behind first[0].
        let next = pool.allocateBlock()!
        _ = pool.registerFullBlock(next, tokens: [7, 7], after: link!)
        #expect(pool.longestCachedPrefix(of: [1, 2, 7, 7], maxBlocks: 2).blocks == [first[0], next])
        pool.release(duplicate)
        #expect(pool.invariantViolations().isEmpty)
    }

    @Test func overReleaseIsReportedNotFatal() {
        let pool = KVBlockPool(blockCount: 2, blockSize: 2)
        let block = pool.allocateBlock()!
        pool.release(block)
        pool.release(block)
        #expect(pool.refCount(of: block) == 0)
        #expect(!pool.invariantViolations().isEmpty)
    }

    @Test func fnv1aIsStableAndChainsTheParent() {
        let hash = BlockHashFunction.fnv1a.hash
        // FNV-1a of eight zero bytes then no tokens: a fixed, platform-independent value.
        #expect(hash(0, []) == 0xa8c7_f832_281a_39c5)
        #expect(hash(0, [1, 2]) == hash(0, [1, 2]))
        #expect(hash(0, [1, 2]) != hash(1, [1, 2]))
        #expect(hash(0, [1, 2]) != hash(0, [2, 1]))
    }
}
