/// The bookkeeping of a paged KV cache: a fixed pool of `blockCount` blocks of `blockSize` token
/// slots, reference counts, and an automatic prefix cache. It owns no tensor memory: the engine
/// preallocates K/V for `blockCount * blockSize` slots and finds a sequence's slots through the
/// block tables the scheduler hands it (slot of position `p` = `table[p / blockSize] *
/// blockSize + p % blockSize`).
///
/// Every block is in exactly one of three places:
/// - **free**: never filled or evicted; content meaningless;
/// - **in use**: referenced by one or more sequences' block tables (`refCount > 0`);
/// - **cached**: `refCount == 0` but still registered in the prefix index, kept for reuse and
///   evicted least-recently-released first when a fresh block is needed and none is free.
///
/// Prefix cache. When a sequence has computed the K/V of a *full* block, the scheduler registers
/// it under `hash(parent's hash, block tokens)`. The pool also records the block's tokens and
/// its parent's *serial* (a number given to each registration and never reused, 0 for the root),
/// so a lookup accepts a candidate only if its tokens equal the wanted tokens and its parent is
/// the block matched one step before: by induction the whole prefix is equal, whatever the hash
/// did. A registration whose hash is already taken by different content is simply not cached.
///
/// Prompt tails. A prompt that ends inside a block leaves that block partly filled, and it stays
/// private to its sequence (the sequence goes on writing into it). So that the next request with
/// the same prompt need not recompute the tail, the scheduler may also register the tail *but its
/// last token* (`registerPromptTail`): the block, the chain link before it and those tokens. A
/// later lookup (`cachedPromptTail`) names the block to copy from; the entry lives until the
/// block is handed out again (`allocateBlock`), since its owner never rewrites those slots and
/// nothing else writes into a block before it is allocated.
///
/// Not thread-safe: the scheduler thread owns it.
public final class KVBlockPool {
    public let blockCount: Int
    public let blockSize: Int
    public let hashFunction: BlockHashFunction

    private var refCounts: [Int32]
    /// Registration serial per block; 0 means "not in the prefix index".
    private var serials: [UInt64]
    private var parentSerials: [UInt64]
    private var hashes: [UInt64]
    /// `blockCount * blockSize` tokens: the content of each registered block, for verification.
    private var blockTokens: [TokenID]
    private var index: [UInt64: KVBlockID] = [:]
    /// Prompt-tail entries (see above), keyed like full blocks, and per block: its entry's
    /// token count (0: none), the serial of the block before it and its key.
    private var tailIndex: [UInt64: KVBlockID] = [:]
    private var tailCounts: [Int32]
    private var tailParentSerials: [UInt64]
    private var tailHashes: [UInt64]
    private var nextSerial: UInt64 = 1
    private var freeList: [KVBlockID]
    // Cached blocks, oldest release first: an intrusive doubly linked list (-1 = none).
    private var lruPrevious: [KVBlockID]
    private var lruNext: [KVBlockID]
    private var lruHead: KVBlockID = -1
    private var lruTail: KVBlockID = -1
    private var lruCount = 0
    /// Releases of blocks whose count was already 0: a scheduler bug, reported by `invariantViolations()`.
    private var overReleases = 0

    /// A position in the prefix-hash chain: the hash and serial of the last full block of a
    /// token prefix, or `root` before the first block.
    public struct ChainLink: Sendable, Equatable {
        public var hash: UInt64
        public var serial: UInt64
    }

    /// The cached blocks that hold a prefix of some tokens.
    public struct PrefixMatch: Sendable, Equatable {
        /// Matched blocks, in order from position 0.
        public var blocks: [KVBlockID]
        /// The chain link after the last matched block.
        public var chain: ChainLink
    }

    /// - Parameters:
    ///   - blockCount: blocks in the pool (at least 1, at most `Int32.max`).
    ///   - blockSize: token slots per block (at least 1).
    public init(blockCount: Int, blockSize: Int, hashFunction: BlockHashFunction = .fnv1a) {
        precondition(
            blockCount >= 1 && blockCount <= Int(Int32.max) && blockSize >= 1,
            "KVBlockPool: settings must be validated before use")
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.hashFunction = hashFunction
        refCounts = Array(repeating: 0, count: blockCount)
        serials = Array(repeating: 0, count: blockCount)
        parentSerials = Array(repeating: 0, count: blockCount)
        hashes = Array(repeating: 0, count: blockCount)
        blockTokens = Array(repeating: 0, count: blockCount * blockSize)
        tailCounts = Array(repeating: 0, count: blockCount)
        tailParentSerials = Array(repeating: 0, count: blockCount)
        tailHashes = Array(repeating: 0, count: blockCount)
        // Popped from the end, so block 0 is handed out first.
        freeList = (0..<blockCount).reversed().map { KVBlockID($0) }
        lruPrevious = Array(repeating: -1, count: blockCount)
        lruNext = Array(repeating: -1, count: blockCount)
    }

    /// The chain link before a sequence's first block.
    public var rootChain: ChainLink { ChainLink(hash: hashFunction.rootHash, serial: 0) }

    /// Blocks that were never filled or have been evicted.
    public var freeBlockCount: Int { freeList.count }
    /// Unreferenced blocks kept for prefix reuse (evictable).
    public var cachedBlockCount: Int { lruCount }
    /// Blocks referenced by at least one sequence.
    public var usedBlockCount: Int { blockCount - freeList.count - lruCount }
    /// Blocks `allocateBlock()` can still hand out (free plus evictable).
    public var allocatableBlockCount: Int { freeList.count + lruCount }

    public func refCount(of block: KVBlockID) -> Int { Int(refCounts[Int(block)]) }

    /// Whether a block is registered in the prefix index (cached or in use).
    public func isRegistered(_ block: KVBlockID) -> Bool { serials[Int(block)] != 0 }

    /// Cached (unreferenced) blocks in the order they would be evicted.
    public var evictionOrder: [KVBlockID] {
        var order: [KVBlockID] = []
        order.reserveCapacity(lruCount)
        var cursor = lruHead
        while cursor >= 0 {
            order.append(cursor)
            cursor = lruNext[Int(cursor)]
        }
        return order
    }

    // MARK: - Prefix lookup and registration

    /// Finds the longest run of registered blocks holding `tokens[0 ..< k * blockSize]`,
    /// `k <= maxBlocks`. Changes nothing; `retain` the blocks to use them.
    public func longestCachedPrefix(of tokens: [TokenID], maxBlocks: Int) -> PrefixMatch {
        var match = PrefixMatch(blocks: [], chain: rootChain)
        let limit = min(maxBlocks, tokens.count / blockSize)
        guard limit > 0, !index.isEmpty else { return match }
        for blockIndex in 0..<limit {
            let slice = tokens[blockIndex * blockSize..<(blockIndex + 1) * blockSize]
            let hash = hashFunction.hash(match.chain.hash, slice)
            guard let candidate = index[hash],
                parentSerials[Int(candidate)] == match.chain.serial,
                storedTokensEqual(candidate, slice)
            else { break }
            match.blocks.append(candidate)
            match.chain = ChainLink(hash: hash, serial: serials[Int(candidate)])
        }
        return match
    }

    /// Registers a full block that its (sole) owner has just computed, holding `tokens` after the
    /// prefix named by `parent`. Returns the chain link to continue with, or nil when the hash is
    /// taken by different content (a collision): the block then stays private and the caller
    /// stops registering the rest of that sequence.
    ///
    /// If identical content is already registered under another block, that block stays the
    /// canonical copy, this one stays private (freed normally), and the returned link continues
    /// the canonical chain.
    public func registerFullBlock(
        _ block: KVBlockID, tokens: ArraySlice<TokenID>,
        after parent: ChainLink
    ) -> ChainLink? {
        precondition(tokens.count == blockSize, "only full blocks are registered")
        let b = Int(block)
        guard serials[b] == 0 else {
            // Already registered (reused from the cache): its identity is known.
            return ChainLink(hash: hashes[b], serial: serials[b])
        }
        let hash = hashFunction.hash(parent.hash, tokens)
        if let existing = index[hash] {
            guard parentSerials[Int(existing)] == parent.serial,
                storedTokensEqual(existing, tokens)
            else { return nil }
            return ChainLink(hash: hash, serial: serials[Int(existing)])
        }
        serials[b] = nextSerial
        nextSerial += 1
        parentSerials[b] = parent.serial
        hashes[b] = hash
        storeTokens(tokens, of: b)
        index[hash] = block
        return ChainLink(hash: hash, serial: serials[b])
    }

    /// Registers the first `tokens.count` slots of `block` (fewer than `blockSize`), computed by
    /// its owner after the prefix named by `parent`, as a prompt tail that later sequences may
    /// copy. An entry with the same key moves to `block`: the newest copy is the one least
    /// likely to be evicted (a running sequence holds it), so a prompt that keeps coming back
    /// keeps being served.
    public func registerPromptTail(_ block: KVBlockID, tokens: ArraySlice<TokenID>, after parent: ChainLink) {
        precondition(!tokens.isEmpty && tokens.count < blockSize, "a prompt tail is a partial block")
        let b = Int(block)
        let hash = hashFunction.hash(parent.hash, tokens)
        guard tailCounts[b] == 0, serials[b] == 0 else { return }
        if let previous = tailIndex[hash] { forgetPromptTail(of: previous) }
        tailIndex[hash] = block
        tailCounts[b] = Int32(tokens.count)
        tailParentSerials[b] = parent.serial
        tailHashes[b] = hash
        storeTokens(tokens, of: b)
    }

    /// The block whose first `tokens.count` slots hold the K/V of `tokens` after the prefix
    /// named by `parent` (a registered prompt tail), if any. Changes nothing; copy the block's
    /// content before the next `allocateBlock` call that could hand it out.
    public func cachedPromptTail(of tokens: ArraySlice<TokenID>, after parent: ChainLink) -> KVBlockID? {
        guard !tokens.isEmpty, tokens.count < blockSize, !tailIndex.isEmpty,
            let candidate = tailIndex[hashFunction.hash(parent.hash, tokens)]
        else { return nil }
        let b = Int(candidate)
        guard Int(tailCounts[b]) == tokens.count, tailParentSerials[b] == parent.serial,
            storedTokensEqual(candidate, tokens)
        else { return nil }
        return candidate
    }

    /// Prompt-tail entries currently registered.
    public var promptTailCount: Int { tailIndex.count }

    private func forgetPromptTail(of block: KVBlockID) {
        let b = Int(block)
        guard tailCounts[b] != 0 else { return }
        if tailIndex[tailHashes[b]] == block { tailIndex[tailHashes[b]] = nil }
        tailCounts[b] = 0
        tailParentSerials[b] = 0
    }

    /// Records the tokens a block holds from its first slot, for `storedTokensEqual`.
    private func storeTokens(_ tokens: ArraySlice<TokenID>, of block: Int) {
        var slot = block * blockSize
        for token in tokens {
            blockTokens[slot] = token
            slot += 1
        }
    }

    private func storedTokensEqual(_ block: KVBlockID, _ tokens: ArraySlice<TokenID>) -> Bool {
        var slot = Int(block) * blockSize
        for token in tokens {
            if blockTokens[slot] != token { return false }
            slot += 1
        }
        return true
    }

    // MARK: - Reference counting

    /// Takes one more reference to a block found by `longestCachedPrefix` (or already in use).
    public func retain(_ block: KVBlockID) {
        let b = Int(block)
        if refCounts[b] == 0 {
            precondition(serials[b] != 0, "retain of a free block")
            unlinkFromLRU(block)
        }
        refCounts[b] += 1
    }

    /// Hands out a block with one reference: a free one if any, else the least recently
    /// released cached block, which leaves the prefix index. Nil when every block is in use.
    public func allocateBlock() -> KVBlockID? {
        let block: KVBlockID
        if let free = freeList.popLast() {
            block = free
        } else if lruHead >= 0 {
            block = lruHead
            unlinkFromLRU(block)
            unregister(block)
        } else {
            return nil
        }
        forgetPromptTail(of: block)
        refCounts[Int(block)] = 1
        return block
    }

    /// Drops one reference. At zero a registered block becomes cached (most recently used end
    /// of the eviction order) and an unregistered one returns to the free list.
    public func release(_ block: KVBlockID) {
        let b = Int(block)
        guard refCounts[b] > 0 else {
            overReleases += 1
            return
        }
        refCounts[b] -= 1
        guard refCounts[b] == 0 else { return }
        if serials[b] != 0 {
            appendToLRU(block)
        } else {
            freeList.append(block)
        }
    }

    /// Releases a whole block table, last block first, so that a sequence's tail is evicted
    /// before its head (heads are the prefixes other requests share).
    public func release(table: [KVBlockID]) {
        for block in table.reversed() {
            release(block)
        }
    }

    private func unregister(_ block: KVBlockID) {
        let b = Int(block)
        if serials[b] != 0, index[hashes[b]] == block {
            index[hashes[b]] = nil
        }
        serials[b] = 0
        parentSerials[b] = 0
    }

    private func appendToLRU(_ block: KVBlockID) {
        let b = Int(block)
        lruPrevious[b] = lruTail
        lruNext[b] = -1
        if lruTail >= 0 { lruNext[Int(lruTail)] = block } else { lruHead = block }
        lruTail = block
        lruCount += 1
    }

    private func unlinkFromLRU(_ block: KVBlockID) {
        let b = Int(block)
        let previous = lruPrevious[b], next = lruNext[b]
        if previous >= 0 { lruNext[Int(previous)] = next } else { lruHead = next }
        if next >= 0 { lruPrevious[Int(next)] = previous } else { lruTail = previous }
        lruPrevious[b] = -1
        lruNext[b] = -1
        lruCount -= 1
    }

    // MARK: - Self-check

    /// Describes every broken invariant (empty when consistent): each block in exactly one of
    /// free / cached / in use, no negative or over-released count, index entries valid.
    /// O(blockCount); for tests and debugging.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        if overReleases > 0 { problems.append("\(overReleases) release(s) of unreferenced blocks") }
        var place = Array(repeating: 0, count: blockCount)  // bit 1 free, bit 2 cached
        for block in freeList { place[Int(block)] |= 1 }
        for block in evictionOrder { place[Int(block)] |= 2 }
        if evictionOrder.count != lruCount { problems.append("LRU count \(lruCount) != list length") }
        for b in 0..<blockCount {
            let count = refCounts[b]
            switch (place[b], count) {
            case (0, let c) where c > 0: break
            case (1, 0) where serials[b] == 0: break
            case (2, 0) where serials[b] != 0: break
            default:
                problems.append("block \(b): place \(place[b]) refCount \(count) serial \(serials[b])")
            }
            if serials[b] != 0, index[hashes[b]] != KVBlockID(b) {
                problems.append("block \(b) is registered but missing from the index")
            }
        }
        for (hash, block) in index where serials[Int(block)] == 0 || hashes[Int(block)] != hash {
            problems.append("index entry \(hash) -> \(block) is stale")
        }
        for (hash, block) in tailIndex where tailCounts[Int(block)] == 0 || tailHashes[Int(block)] != hash {
            problems.append("prompt-tail entry \(hash) -> \(block) is stale")
        }
        return problems
    }
}
