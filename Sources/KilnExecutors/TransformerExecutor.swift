import KilnServe
import KilnText

/// The engine behind the scheduler for language models: runs each iteration's work as one
/// batched forward pass of a `TransformerModel` over a paged KV cache whose blocks are the
/// scheduler's, then samples every sequence that needs a token.
///
/// Each sequence keeps its own `TokenSampler` (seeded generator and penalty history) from its
/// first sampled token to `releaseSequence`; a preempted sequence keeps it too, so that it
/// draws the same numbers when it resumes. Logits depend only on the sequence's own tokens
/// (see `TransformerModel`), so a job's tokens do not depend on what else runs with it.
public final class TransformerExecutor: BatchExecutor {
    public let model: TransformerModel
    public let cache: PagedKVCache
    private let batch: ForwardBatch
    private let workspace: SamplingWorkspace
    private var samplers: [SequenceID: TokenSampler] = [:]
    /// The output constraint of each constrained sequence, alive as long as its sampler.
    private var constraints: [SequenceID: any TokenConstraint] = [:]
    /// The allowed-token mask of the sequence being sampled; filled in place, one sequence at a time.
    private var allowedTokens: TokenMask
    /// Batch index of each sequence that samples this iteration; reused across iterations.
    private var sampledIndices: [(index: Int, work: Int)] = []

    /// - Parameters:
    ///   - settings: the scheduler's settings; the cache gets exactly its block count and size,
    ///     and the batch room for its sequences and per-iteration token budget.
    public init(model: TransformerModel, settings: SchedulerSettings) throws {
        guard settings.tokenBudgetPerIteration <= model.options.maximumBatchTokens else {
            throw ModelError.invalidSetting(
                name: "max_batch_tokens",
                reason:
                    "the scheduler's token budget \(settings.tokenBudgetPerIteration) exceeds the model's step buffers (\(model.options.maximumBatchTokens))"
            )
        }
        self.model = model
        cache = try model.makeKVCache(blockCount: settings.kvBlockCount, blockSize: settings.kvBlockSize)
        batch = try model.makeBatch(cache: cache, maximumSequenceCount: settings.maxBatchSequences)
        workspace = SamplingWorkspace(vocabularySize: model.configuration.vocabularySize)
        allowedTokens = TokenMask(vocabularySize: model.configuration.vocabularySize)
        sampledIndices.reserveCapacity(settings.maxBatchSequences)
    }

    public func execute(_ work: ExecutorBatch) throws -> [ExecutorOutput] {
        batch.removeAll()
        sampledIndices.removeAll(keepingCapacity: true)
        for (workIndex, sequence) in work.sequences.enumerated() {
            let index = try batch.append(
                tokens: sequence.tokens, startPosition: sequence.startPosition,
                blockTable: sequence.blockTable,
                logits: sequence.samplesNextToken ? .last : .none)
            if sequence.samplesNextToken { sampledIndices.append((index, workIndex)) }
        }
        let logits = try model.forward(batch, cache: cache)

        var outputs: [ExecutorOutput] = []
        outputs.reserveCapacity(sampledIndices.count)
        for (index, workIndex) in sampledIndices {
            let sequence = work.sequences[workIndex]
            guard let options = sequence.sampling as? TextSampling else {
                throw ModelError.invalidBatch("sequence \(sequence.sequenceID) has no text sampling parameters")
            }
            let row = logits.row(batch.logitRows(ofSequence: index).lowerBound)
            var sampler = try samplers[sequence.sequenceID] ?? makeSampler(options, context: sequence.contextTokens)
            let token: Int32
            let constraint = constraint(of: sequence.sequenceID, options)
            if let constraint, constraint.constrainsNextToken {
                allowedTokens.withUnsafeMutableWords { constraint.fillAllowedTokens(into: $0) }
                token = try allowedTokens.withUnsafeWords { try sampler.sample(logits: row, workspace: workspace, allowedTokens: $0) }
            } else {
                token = try sampler.sample(logits: row, workspace: workspace)
            }
            if let constraint, !constraint.accept(token: token) { throw ConstraintError.tokenRefused(token) }
            samplers[sequence.sequenceID] = sampler
            var payload: TokenLogProbabilities?
            if let top = options.topLogprobs {
                payload = try TokenLogProbabilities(logits: row, chosen: token, topCount: top, workspace: workspace)
            }
            outputs.append(ExecutorOutput(sequenceID: sequence.sequenceID, token: token, logprobs: payload))
        }
        return outputs
    }

    public var copiesKVBlocks: Bool { true }

    public func copyKVBlock(_ source: KVBlockID, to destination: KVBlockID) throws {
        try cache.copyBlock(source, to: destination)
    }

    public func releaseSequence(_ id: SequenceID) {
        samplers[id] = nil
        constraints[id] = nil
    }

    /// The sequence's constraint, made from its sampling options when it first samples.
    private func constraint(of id: SequenceID, _ options: TextSampling) -> (any TokenConstraint)? {
        if let existing = constraints[id] { return existing }
        guard let source = options.constraint else { return nil }
        let made = source.makeConstraint()
        constraints[id] = made
        return made
    }

    private func makeSampler(_ options: TextSampling, context: [TokenID]) throws -> TokenSampler {
        // Without a seed, each job gets a fresh random one: unseeded requests differ run to run.
        var sampler = try TokenSampler(
            parameters: options.parameters, vocabularySize: workspace.vocabularySize,
            defaultSeed: UInt64.random(in: .min ... .max))
        sampler.observe(context)
        return sampler
    }
}
