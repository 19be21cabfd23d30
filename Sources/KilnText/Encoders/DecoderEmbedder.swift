/// A decoder-only language model used as an embedder, as `llama-server --embedding --pooling`
/// does: an input runs through the model like a prompt (into a KV cache of the embedder's own),
/// and its final hidden states after the output norm are pooled (mean or last token) and scaled
/// to unit length.
///
/// It shares the model, and so the model's step buffers, with whoever else runs the model: every
/// call must come from the thread that runs the model's other steps (the server's scheduler
/// thread), never beside them. A pass runs its inputs one after another, in chunks of up to the
/// model's `maximumBatchTokens`; each chunk is one whole forward step, so a pass can be spread
/// over iterations between the text engine's own steps.
public final class DecoderEmbedder: @unchecked Sendable {
    public let model: TransformerModel
    public let pooling: EmbeddingPooling
    /// The most tokens one input may have.
    public let maxInputTokens: Int
    /// Length of the vectors (the model's width).
    public var dimensions: Int { model.configuration.embeddingLength }

    // @unchecked Sendable: the cache and batch are used only from the model's thread (above).
    private let cache: PagedKVCache
    private let batch: ForwardBatch
    private let blockTable: [Int32]

    /// - Parameters:
    ///   - pooling: `.mean` or `.lastToken` (`.cls`, the first token, is allowed but a decoder's
    ///     first token has seen nothing else).
    ///   - maxInputTokens: the longest input (default: the model's context, at most 2048); the
    ///     embedder's KV cache holds that many tokens.
    public init(model: TransformerModel, pooling: EmbeddingPooling, maxInputTokens: Int? = nil) throws {
        let limit = maxInputTokens ?? min(model.contextLength, 2048)
        guard limit >= 1, limit <= model.contextLength else {
            throw ModelError.invalidSetting(name: "max_input_tokens", reason: "\(limit) is not in 1…\(model.contextLength)")
        }
        self.model = model
        self.pooling = pooling
        self.maxInputTokens = limit
        let blockSize = 16, blocks = (limit + blockSize - 1) / blockSize
        cache = try model.makeKVCache(blockCount: blocks, blockSize: blockSize)
        batch = try ForwardBatch(
            maximumTokenCount: model.options.maximumBatchTokens, maximumSequenceCount: 1, contextLength: limit,
            blockSize: blockSize)
        blockTable = (0..<blocks).map { Int32($0) }
    }

    /// Checks `inputs` (non-empty, within `maxInputTokens`, ids in the vocabulary); nothing runs yet.
    public func startPass(_ inputs: [[Int32]]) throws -> DecoderEmbeddingPass {
        guard !inputs.isEmpty else { throw ModelError.invalidBatch("an embedding pass needs at least one input") }
        let vocabulary = model.configuration.vocabularySize
        for input in inputs {
            guard !input.isEmpty else { throw ModelError.invalidBatch("an input to the embedder has no tokens") }
            guard input.count <= maxInputTokens else {
                throw ModelError.contextLengthExceeded(position: input.count, limit: maxInputTokens)
            }
            for id in input where id < 0 || Int(id) >= vocabulary {
                throw ModelError.tokenOutOfRange(token: id, vocabularySize: vocabulary)
            }
        }
        return DecoderEmbeddingPass(inputs: inputs, width: dimensions)
    }

    /// Runs chunks of `pass` until about `tokenRows` tokens went through the model (at least one
    /// chunk), or the pass is complete.
    public func advance(_ pass: DecoderEmbeddingPass, tokenRows budget: Int) throws {
        var spent = 0
        repeat {
            guard !pass.isComplete else { return }
            let input = pass.inputs[pass.input]
            let count = min(input.count - pass.position, max(1, budget - spent), batch.maximumTokenCount)
            batch.removeAll()
            try batch.append(
                tokens: input[pass.position..<(pass.position + count)], startPosition: pass.position,
                blockTable: blockTable, logits: .none)
            let states = try model.hiddenStates(batch, cache: cache)
            pass.absorb(states, rows: count, isLast: pass.position + count == input.count, pooling: pooling)
            spent += count
        } while spent < budget
    }

    /// One unit-length vector per input of a complete pass.
    public func finish(_ pass: DecoderEmbeddingPass) -> [[Float]] {
        precondition(pass.isComplete, "finish needs a complete pass")
        return pass.vectors.map { vector in
            var vector = vector
            vector.withUnsafeMutableBufferPointer { EmbeddingPooling.normalize($0.baseAddress!, count: $0.count) }
            return vector
        }
    }
}

/// The inputs of one `DecoderEmbedder` pass and what is pooled of them so far.
public final class DecoderEmbeddingPass {
    public let inputs: [[Int32]]
    let width: Int
    /// The input running now, and how many of its tokens went through.
    private(set) var input = 0
    private(set) var position = 0
    /// Per input: the pooled vector once it is done.
    private(set) var vectors: [[Float]] = []
    /// The running sum of the current input's states (mean pooling), in Double.
    private var sum: [Double]

    init(inputs: [[Int32]], width: Int) {
        self.inputs = inputs
        self.width = width
        sum = Array(repeating: 0, count: width)
        vectors.reserveCapacity(inputs.count)
    }

    public var isComplete: Bool { input == inputs.count }

    /// Takes in the states of the current input's next `rows` tokens.
    func absorb(_ states: UnsafeBufferPointer<Float>, rows: Int, isLast: Bool, pooling: EmbeddingPooling) {
        let total = inputs[input].count
        switch pooling {
        case .mean:
            for row in 0..<rows {
                for dimension in 0..<width { sum[dimension] += Double(states[row * width + dimension]) }
            }
        case .cls where position == 0:
            for dimension in 0..<width { sum[dimension] = Double(states[dimension]) }
        case .lastToken where isLast:
            for dimension in 0..<width { sum[dimension] = Double(states[(rows - 1) * width + dimension]) }
        case .cls, .lastToken:
            break
        }
        position += rows
        guard isLast else { return }
        let divisor = pooling == .mean ? Double(total) : 1
        vectors.append(sum.map { Float($0 / divisor) })
        for dimension in 0..<width { sum[dimension] = 0 }
        input += 1
        position = 0
    }
}
