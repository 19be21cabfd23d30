/// The contract between the scheduler and an inference engine.
///
/// The scheduler calls `execute` once per iteration, on its own thread, with the work of every
/// running sequence; the executor runs one batched forward pass over it and samples where asked.
///
/// KV memory. The engine preallocates K/V for `blockCount * blockSize` token slots per layer
/// (`blockCount`, `blockSize`: the scheduler's settings) and never allocates per request. Token
/// position `p` of a sequence lives in slot `blockTable[p / blockSize] * blockSize + p % blockSize`.
/// For each entry the engine writes the K/V of `tokens` at positions `startPosition ..<
/// startPosition + tokens.count`, and attention for the token at position `p` reads positions
/// `0 ... p` of the same sequence through its block table. Positions `0 ..< startPosition` were
/// written by earlier steps of this sequence *or by another sequence with the same token prefix*
/// (prefix caching): their content must depend only on the tokens at positions `0 ... p`.
/// Blocks below `startPosition / blockSize` may be shared with other sequences in the same batch;
/// the scheduler guarantees that no two entries ever write the same slot, and that an entry never
/// writes into a block another sequence references.
///
/// Determinism. A sequence's logits and its sampled token must depend only on its own entry
/// (tokens, positions, cached K/V, sampling parameters, generated tokens), never on the other
/// entries, their order or the batch size. Sampling randomness must be derived from the sampling
/// parameters (seed) and `generatedTokens.count` (e.g. a counter-based generator), not kept as a
/// stream: after a preemption a sequence is recomputed and must draw the same numbers again.
///
/// Preemption. Under KV pressure the scheduler may take all of a sequence's blocks away; later
/// the same `sequenceID` reappears with a new block table and `startPosition` back at 0 (or at a
/// cached prefix), recomputing prompt and generated tokens before sampling the next one.
///
/// Threading. Called only from the scheduler thread, never concurrently. The executor may fan
/// work out to its own worker threads inside `execute`.
public protocol BatchExecutor: AnyObject {
    /// Runs one forward step for every entry of `batch` and returns one output for each entry
    /// whose `samplesNextToken` is true (in any order). Entries that do not sample only fill KV.
    ///
    /// Throwing fails every sequence in the batch with `ServeError.executorFailed`; the
    /// scheduler keeps serving other jobs.
    func execute(_ batch: ExecutorBatch) throws -> [ExecutorOutput]

    /// The sequence ended (finished, failed or cancelled): drop any per-sequence state. Not
    /// called on preemption. Called at most once per sequence, on the scheduler thread.
    func releaseSequence(_ id: SequenceID)

    /// Whether `copyKVBlock` is implemented. When it is, the scheduler serves a repeated
    /// prompt's partial last block by copying it from an earlier sequence instead of recomputing
    /// it (see `KVBlockPool`, "Prompt tails").
    var copiesKVBlocks: Bool { get }

    /// Copies every layer's K/V of all slots of block `source` into block `destination`, at once,
    /// on the scheduler thread between two `execute` calls. `destination` is a fresh block of
    /// the sequence about to be admitted; `source` may belong to a running sequence (its slots
    /// past the copied prefix may hold anything: the new sequence overwrites them before reading).
    func copyKVBlock(_ source: KVBlockID, to destination: KVBlockID) throws
}

extension BatchExecutor {
    public func releaseSequence(_ id: SequenceID) {}

    public var copiesKVBlocks: Bool { false }

    public func copyKVBlock(_ source: KVBlockID, to destination: KVBlockID) throws {
        throw ServeError.executorFailed("this executor does not copy KV blocks")
    }
}

/// One iteration's work for the executor.
public struct ExecutorBatch {
    /// Counts scheduler iterations that ran a batch, from 1.
    public var iteration: UInt64
    /// Token slots per KV block.
    public var blockSize: Int
    /// One entry per running sequence with work this iteration; each sequence appears at most once.
    /// Decode entries (one token) come first, then prefill chunks; the order carries no meaning.
    public var sequences: [ExecutorSequenceWork]

    public init(iteration: UInt64, blockSize: Int, sequences: [ExecutorSequenceWork]) {
        self.iteration = iteration
        self.blockSize = blockSize
        self.sequences = sequences
    }

    /// Tokens run this step, summed over the entries (at most the scheduler's token budget).
    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.tokens.count } }
}

/// The work of one sequence in one step.
public struct ExecutorSequenceWork {
    public var sequenceID: SequenceID
    /// Tokens to run now, at positions `startPosition ..< startPosition + tokens.count`.
    /// One token for a decode step; a chunk of the prompt (or of prompt + generated tokens after
    /// a preemption) during prefill. Never empty. A slice: index from `tokens.startIndex`.
    public var tokens: ArraySlice<TokenID>
    /// Position of `tokens.first`; K/V of positions below it are already in the cache.
    public var startPosition: Int
    /// The sequence's blocks, in position order; covers at least `startPosition + tokens.count`
    /// positions (it may hold further blocks reserved for tokens not yet run).
    public var blockTable: [KVBlockID]
    /// True when this step runs the last known token of the sequence: compute the logits of the
    /// last position, sample, and return an `ExecutorOutput`. False for non-final prefill chunks,
    /// which need no logits at all.
    public var samplesNextToken: Bool
    /// The request's opaque sampling parameters (`GenerationRequest.sampling`).
    public var sampling: any Sendable
    /// Every known token of the sequence: the prompt, then the tokens generated so far.
    /// When `samplesNextToken`, `startPosition + tokens.count == contextTokens.count`.
    public var contextTokens: [TokenID]
    /// How many of `contextTokens` are prompt.
    public var promptLength: Int

    public init(
        sequenceID: SequenceID, tokens: ArraySlice<TokenID>, startPosition: Int,
        blockTable: [KVBlockID], samplesNextToken: Bool, sampling: any Sendable,
        contextTokens: [TokenID], promptLength: Int
    ) {
        self.sequenceID = sequenceID
        self.tokens = tokens
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.samplesNextToken = samplesNextToken
        self.sampling = sampling
        self.contextTokens = contextTokens
        self.promptLength = promptLength
    }

    /// Tokens generated so far (for repetition / presence / frequency penalties).
    public var generatedTokens: ArraySlice<TokenID> { contextTokens[promptLength...] }
}

/// The sampled token of one sequence.
public struct ExecutorOutput {
    public var sequenceID: SequenceID
    public var token: TokenID
    /// Executor-defined logprobs (e.g. the token's logprob and the top-k alternatives) when the
    /// sampling parameters asked for them; handed to the client's `.token` event untouched.
    public var logprobs: (any Sendable)?

    public init(sequenceID: SequenceID, token: TokenID, logprobs: (any Sendable)? = nil) {
        self.sequenceID = sequenceID
        self.token = token
        self.logprobs = logprobs
    }
}
