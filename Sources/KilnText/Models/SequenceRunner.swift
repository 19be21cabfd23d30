/// Runs one sequence through a model: its own KV cache with the blocks laid out in order, a
/// batch and a position. For the command line, benchmarks and tests; the server's scheduler
/// drives `TransformerModel.forward` directly with many sequences and shared blocks.
public final class SequenceRunner {
    public let model: TransformerModel
    public let cache: PagedKVCache
    /// The most tokens this runner's sequence may hold.
    public let capacity: Int
    /// Tokens already in the cache (the position of the next token).
    public private(set) var length = 0
    private let batch: ForwardBatch
    private let blockTable: [Int32]

    /// Prepares a cache for a sequence of up to `capacity` tokens (default: the model's context).
    public init(model: TransformerModel, capacity: Int? = nil, blockSize: Int = 16) throws {
        let capacity = capacity ?? model.contextLength
        guard capacity > 0, capacity <= model.contextLength else {
            throw ModelError.invalidSetting(
                name: "context_length",
                reason: "\(capacity) is not in 1…\(model.contextLength)")
        }
        self.model = model
        self.capacity = capacity
        let blocks = (capacity + blockSize - 1) / blockSize
        cache = try model.makeKVCache(blockCount: blocks, blockSize: blockSize)
        batch = try ForwardBatch(
            maximumTokenCount: model.options.maximumBatchTokens, maximumSequenceCount: 1,
            contextLength: capacity, blockSize: blockSize)
        blockTable = (0..<blocks).map { Int32($0) }
    }

    /// Forgets the sequence (the cache is overwritten from position 0 on the next feed).
    public func reset() { length = 0 }

    /// Appends `tokens` to the sequence and returns the logits of its last token. Long inputs
    /// are split into chunks of the model's `maximumBatchTokens`.
    ///
    /// - Throws: `ModelError.contextLengthExceeded` when the sequence would pass `capacity`.
    public func feed<Tokens: Collection>(_ tokens: Tokens) throws -> UnsafeBufferPointer<Float>
    where Tokens.Element == Int32 {
        guard !tokens.isEmpty else { throw ModelError.invalidBatch("no tokens to feed") }
        guard tokens.count <= capacity - length else {
            throw ModelError.contextLengthExceeded(position: length + tokens.count - 1, limit: capacity)
        }
        var start = tokens.startIndex
        var logits: ForwardLogits?
        while start != tokens.endIndex {
            let end = tokens.index(start, offsetBy: batch.maximumTokenCount, limitedBy: tokens.endIndex) ?? tokens.endIndex
            logits = try step(tokens[start..<end], selection: end == tokens.endIndex ? .last : .none)
            start = end
        }
        return logits!.row(0)
    }

    /// Appends at most `model.options.maximumBatchTokens` tokens and returns the logits of every
    /// one of them (row i belongs to `tokens[i]`).
    public func feedReturningAllLogits<Tokens: Collection>(_ tokens: Tokens) throws -> ForwardLogits
    where Tokens.Element == Int32 {
        guard tokens.count <= model.options.maximumLogitRows else {
            throw ModelError.invalidBatch("\(tokens.count) logit rows exceed max_logit_rows \(model.options.maximumLogitRows)")
        }
        guard tokens.count <= capacity - length else {
            throw ModelError.contextLengthExceeded(position: length + tokens.count - 1, limit: capacity)
        }
        return try step(tokens, selection: .all)
    }

    private func step<Tokens: Collection>(_ tokens: Tokens, selection: LogitSelection) throws -> ForwardLogits
    where Tokens.Element == Int32 {
        batch.removeAll()
        try batch.append(tokens: tokens, startPosition: length, blockTable: blockTable, logits: selection)
        let logits = try model.forward(batch, cache: cache)
        length += tokens.count
        return logits
    }
}
