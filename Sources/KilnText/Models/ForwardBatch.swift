/// Which positions of a sequence in a batch produce logits.
public enum LogitSelection: Sendable, Equatable {
    /// None: a prefill chunk that is not the prompt's last.
    case none
    /// The sequence's last token only: decoding, or the end of a prompt.
    case last
    /// Every token of the sequence in this batch (prompt log-probabilities).
    case all
}

/// One forward step's work: several sequences, each with one or more new tokens at consecutive
/// positions, its block table and which logits it wants. Buffers are allocated once, at the
/// largest batch, and refilled every step with `removeAll()` and `append`, so building a batch
/// allocates nothing.
///
/// A sequence's new tokens occupy positions `startPosition ..< startPosition + count`; its
/// block table must cover them, and every position before `startPosition` must already be in
/// the cache (written by earlier steps, or shared prefix blocks). Two sequences may share
/// blocks that they only read; they must never write the same slot in one step.
public final class ForwardBatch {
    /// Most tokens over all sequences.
    public let maximumTokenCount: Int
    /// Most sequences.
    public let maximumSequenceCount: Int
    /// Positions a sequence may reach: `startPosition + count ≤ contextLength`.
    public let contextLength: Int
    /// Tokens per KV block (the cache's `blockSize`).
    public let blockSize: Int
    /// Longest block table kept per sequence: `contextLength / blockSize`, rounded up.
    public let maximumBlocksPerSequence: Int

    public private(set) var tokenCount = 0
    public private(set) var sequenceCount = 0
    /// Rows of logits the batch asks for (sum over sequences).
    public private(set) var logitRowCount = 0

    let tokens: UnsafeMutablePointer<Int32>  // [maximumTokenCount]
    let tokenPositions: UnsafeMutablePointer<Int32>  // [maximumTokenCount]
    let tokenSequences: UnsafeMutablePointer<Int32>  // [maximumTokenCount] index of its sequence
    let sequenceFirstToken: UnsafeMutablePointer<Int32>  // [maximumSequenceCount + 1]
    let sequenceStartPositions: UnsafeMutablePointer<Int32>
    let sequenceBlockCounts: UnsafeMutablePointer<Int32>
    let sequenceFirstLogitRow: UnsafeMutablePointer<Int32>  // [maximumSequenceCount + 1]
    let sequenceSelections: UnsafeMutablePointer<LogitSelection>
    let blockTables: UnsafeMutablePointer<Int32>  // [maximumSequenceCount × maximumBlocksPerSequence]

    /// - Parameters:
    ///   - maximumTokenCount: the most tokens one step carries (prefill chunks plus decodes).
    ///   - maximumSequenceCount: the most sequences in one step.
    ///   - contextLength: the longest a sequence may grow (at most the model's context length).
    ///   - blockSize: tokens per block of the KV cache the batch will run against.
    public init(maximumTokenCount: Int, maximumSequenceCount: Int, contextLength: Int, blockSize: Int) throws {
        for (name, value) in [
            ("max_batch_tokens", maximumTokenCount), ("max_batch_sequences", maximumSequenceCount),
            ("context_length", contextLength), ("kv_block_size", blockSize),
        ]
        where value <= 0 || value > 1 << 24 {
            throw ModelError.invalidSetting(name: name, reason: "\(value) is not in 1…\(1 << 24)")
        }
        self.maximumTokenCount = maximumTokenCount
        self.maximumSequenceCount = maximumSequenceCount
        self.contextLength = contextLength
        self.blockSize = blockSize
        maximumBlocksPerSequence = (contextLength + blockSize - 1) / blockSize
        tokens = .allocate(capacity: maximumTokenCount)
        tokenPositions = .allocate(capacity: maximumTokenCount)
        tokenSequences = .allocate(capacity: maximumTokenCount)
        sequenceFirstToken = .allocate(capacity: maximumSequenceCount + 1)
        sequenceStartPositions = .allocate(capacity: maximumSequenceCount)
        sequenceBlockCounts = .allocate(capacity: maximumSequenceCount)
        sequenceFirstLogitRow = .allocate(capacity: maximumSequenceCount + 1)
        sequenceSelections = .allocate(capacity: maximumSequenceCount)
        sequenceSelections.initialize(repeating: .none, count: maximumSequenceCount)
        blockTables = .allocate(capacity: maximumSequenceCount * maximumBlocksPerSequence)
        removeAll()
    }

    deinit {
        for pointer in [
            tokens, tokenPositions, tokenSequences, sequenceFirstToken, sequenceStartPositions,
            sequenceBlockCounts, sequenceFirstLogitRow, blockTables,
        ] {
            pointer.deallocate()
        }
        sequenceSelections.deallocate()
    }

    /// Empties the batch for the next step.
    public func removeAll() {
        tokenCount = 0
        sequenceCount = 0
        logitRowCount = 0
        sequenceFirstToken[0] = 0
        sequenceFirstLogitRow[0] = 0
    }

    /// Adds a sequence's new tokens and returns its index in this batch.
    ///
    /// - Parameters:
    ///   - tokens: the new tokens, at least one.
    ///   - startPosition: the position of the first of them (the sequence's cached length).
    ///   - blockTable: the sequence's blocks, at least enough to cover the new positions; extra
    ///     entries are ignored.
    ///   - logits: which of the new tokens produce logits.
    /// - Throws: `ModelError.contextLengthExceeded` when the tokens would pass `contextLength`,
    ///   `ModelError.invalidBatch` when the batch is full or the block table too short.
    @discardableResult
    public func append<Tokens: Collection, Blocks: Collection>(
        tokens newTokens: Tokens, startPosition: Int, blockTable: Blocks, logits: LogitSelection = .last
    ) throws -> Int where Tokens.Element == Int32, Blocks.Element == Int32 {
        let count = newTokens.count
        guard count > 0 else { throw ModelError.invalidBatch("a sequence needs at least one new token") }
        guard sequenceCount < maximumSequenceCount else {
            throw ModelError.invalidBatch("more than \(maximumSequenceCount) sequences in one step")
        }
        guard count <= maximumTokenCount - tokenCount else {
            throw ModelError.invalidBatch("more than \(maximumTokenCount) tokens in one step")
        }
        guard startPosition >= 0 else {
            throw ModelError.invalidBatch("start position \(startPosition) is negative")
        }
        guard startPosition <= contextLength - count else {
            throw ModelError.contextLengthExceeded(position: startPosition + count - 1, limit: contextLength)
        }
        let blocksNeeded = (startPosition + count + blockSize - 1) / blockSize
        guard blockTable.count >= blocksNeeded else {
            throw ModelError.invalidBatch(
                "block table has \(blockTable.count) blocks, positions up to \(startPosition + count - 1) need \(blocksNeeded)")
        }
        let sequence = sequenceCount
        let table = blockTables + sequence * maximumBlocksPerSequence
        var written = 0
        for block in blockTable {
            if written == blocksNeeded { break }
            table[written] = block
            written += 1
        }
        var slot = tokenCount
        for token in newTokens {
            tokens[slot] = token
            tokenPositions[slot] = Int32(startPosition + slot - tokenCount)
            tokenSequences[slot] = Int32(sequence)
            slot += 1
        }
        tokenCount += count
        sequenceStartPositions[sequence] = Int32(startPosition)
        sequenceBlockCounts[sequence] = Int32(blocksNeeded)
        sequenceSelections[sequence] = logits
        switch logits {
        case .none: break
        case .last: logitRowCount += 1
        case .all: logitRowCount += count
        }
        sequenceCount += 1
        sequenceFirstToken[sequenceCount] = Int32(tokenCount)
        sequenceFirstLogitRow[sequenceCount] = Int32(logitRowCount)
        return sequence
    }

    /// The rows of the step's logits that belong to `sequence` (empty when it asked for none).
    public func logitRows(ofSequence sequence: Int) -> Range<Int> {
        precondition(sequence >= 0 && sequence < sequenceCount, "no sequence \(sequence) in this batch")
        return Int(sequenceFirstLogitRow[sequence])..<Int(sequenceFirstLogitRow[sequence + 1])
    }

    /// The new tokens of `sequence`, as indices into the batch's token list.
    func tokenRange(ofSequence sequence: Int) -> Range<Int> {
        Int(sequenceFirstToken[sequence])..<Int(sequenceFirstToken[sequence + 1])
    }
}
