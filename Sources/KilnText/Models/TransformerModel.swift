import KilnFormats
import KilnTensor

/// Logits of one forward step: `rowCount` rows of `vocabularySize` floats, in the order the
/// batch's sequences asked for them (see `ForwardBatch.logitRows(ofSequence:)`). The memory
/// belongs to the model and is overwritten by its next step.
public struct ForwardLogits {
    public let base: UnsafePointer<Float>
    public let rowCount: Int
    public let vocabularySize: Int

    /// Row `index` of the logits.
    public func row(_ index: Int) -> UnsafeBufferPointer<Float> {
        precondition(index >= 0 && index < rowCount, "logit row \(index) is outside 0..<\(rowCount)")
        return UnsafeBufferPointer(start: base + index * vocabularySize, count: vocabularySize)
    }
}

/// A loaded decoder-only transformer (an architecture of `Models/Architectures/`) and its batched
/// forward pass.
///
/// One call to `forward` runs every token of a `ForwardBatch` — prefill chunks and single
/// decoding tokens of many sequences together — through one pass over the weights: each matrix
/// multiplies all the batch's rows at once. Every row is computed with the same arithmetic
/// whatever else is in the batch (matrix rows, norms and RoPE are per token; attention is per
/// token and head), so a sequence's logits are bit-identical alone or batched, and a prompt's
/// cache is the same however it was split into chunks.
///
/// Not thread-safe: one engine thread calls `forward` at a time.
public final class TransformerModel: @unchecked Sendable {
    public let configuration: TransformerConfiguration
    public let options: ModelOptions
    /// The context limit in force: the model's, or `options.contextLength` when smaller.
    public let contextLength: Int
    public let summary: ModelSummary
    /// The kernels' worker threads.
    public let pool: WorkerPool
    /// The mapped GGUF file the weights point into (also the source of the tokenizer).
    public let file: GGUFFile
    let weights: TransformerWeights
    let rope: RotaryEmbedding
    /// The sliding-window layers' RoPE, when their base or scale differs from `rope`'s.
    let localRope: RotaryEmbedding?
    let scratch: ForwardScratch
    /// Per layer: the Q, K, V products of the normalized input (one dispatch).
    let attentionInputTargets: [[MatmulTarget]]
    /// Per layer: the gate and up products (one dispatch).
    let feedForwardInputTargets: [[MatmulTarget]]
    /// The kernel family every product uses (from `options.activationPrecision`).
    let kernelPath: Matmul.KernelPath
    /// The architecture's file, which runs each block.
    private let architecture: any DecoderArchitecture.Type

    /// Maps the GGUF file at `path` and loads the model in it.
    public convenience init(path: String, options: ModelOptions = ModelOptions()) throws {
        try self.init(file: GGUFFile(path: path), options: options)
    }

    /// Loads the model in an opened GGUF file. The weights stay in the file's memory map.
    public init(file: GGUFFile, options: ModelOptions = ModelOptions()) throws {
        try options.validate()
        guard !file.tensors.isEmpty else {
            throw ModelError.invalidMetadata(key: "tensors", reason: "the file holds no tensors (a vocabulary-only GGUF?)")
        }
        let configuration = try TransformerConfiguration(file: file)
        architecture = configuration.architecture.definition
        weights = try architecture.loadWeights(from: file, configuration: configuration)
        self.file = file
        self.configuration = configuration
        self.options = options
        contextLength = min(configuration.contextLength, options.contextLength ?? .max)
        let ropeFactors = weights.ropeFactors(
            contextLength: contextLength, originalContextLength: configuration.ropeOriginalContextLength)
        rope = Self.rotaryEmbedding(
            configuration, layout: configuration.ropeLayout == .adjacent ? .normal : .neox, base: configuration.ropeFrequencyBase,
            frequencyScale: configuration.ropeFrequencyScale, factors: ropeFactors)
        let slides = configuration.slidingWindowLayers.contains(true) && configuration.slidingWindow > 0
        if slides
            && (configuration.slidingWindowRopeFrequencyBase != configuration.ropeFrequencyBase
                || configuration.slidingWindowRopeFrequencyScale != configuration.ropeFrequencyScale)
        {
            localRope = Self.rotaryEmbedding(
                configuration, layout: rope.layout, base: configuration.slidingWindowRopeFrequencyBase,
                frequencyScale: configuration.slidingWindowRopeFrequencyScale, factors: ropeFactors)
        } else {
            localRope = nil
        }
        scratch = ForwardScratch(
            configuration: configuration, maximumTokenCount: options.maximumBatchTokens,
            maximumLogitRows: options.maximumLogitRows)
        pool = WorkerPool(threadCount: options.threadCount)
        attentionInputTargets = weights.layers.map { [scratch] layer in
            [
                MatmulTarget(weight: layer.query, output: scratch.query),
                MatmulTarget(weight: layer.key, output: scratch.key),
                MatmulTarget(weight: layer.value, output: scratch.value),
            ]
        }
        feedForwardInputTargets = weights.layers.map { [scratch] layer in
            [
                MatmulTarget(weight: layer.gate, output: scratch.gate),
                MatmulTarget(weight: layer.up, output: scratch.up),
            ]
        }
        kernelPath = options.activationPrecision == .int8 ? .automatic : .floatActivations
        summary = Self.summarize(file: file, configuration: configuration, tied: weights.outputIsTied)
    }

    /// A KV cache pool of `blockCount` blocks of `blockSize` tokens for this model, storing
    /// `options.kvCacheType` elements.
    public func makeKVCache(blockCount: Int, blockSize: Int = 16) throws -> PagedKVCache {
        try PagedKVCache(
            configuration: configuration, blockCount: blockCount, blockSize: blockSize,
            elementType: options.kvCacheType)
    }

    /// An empty batch sized for this model's step buffers and `cache`'s block size.
    public func makeBatch(cache: PagedKVCache, maximumSequenceCount: Int = 64) throws -> ForwardBatch {
        try ForwardBatch(
            maximumTokenCount: options.maximumBatchTokens, maximumSequenceCount: maximumSequenceCount,
            contextLength: contextLength, blockSize: cache.blockSize)
    }

    /// Runs one step: writes the keys and values of every token of `batch` into `cache` and
    /// returns the logits the batch asked for.
    ///
    /// - Throws: `ModelError` when the batch does not fit this model or cache (too many tokens
    ///   or logit rows, a token outside the vocabulary, a block outside the pool, a position past
    ///   the context). Nothing is written when it throws.
    public func forward(_ batch: ForwardBatch, cache: PagedKVCache) throws -> ForwardLogits {
        try validate(batch, cache: cache)
        runLayers(batch, cache: cache)
        let s = scratch
        let rows = gatherLogitInputs(batch)
        if rows > 0 {
            multiply(weights.output, input: s.logitInput, rows: rows, output: s.logits)
            softcapLogits(rows: rows)
        }
        return ForwardLogits(base: s.logits, rowCount: rows, vocabularySize: configuration.vocabularySize)
    }

    /// Runs one step like `forward`, but returns, instead of logits, the final hidden state of
    /// every token of the batch after the output norm ([tokens × width], in batch order): what an
    /// embedding pools (llama.cpp's `--embedding`). The batch must ask for no logits. The memory
    /// belongs to the model and is overwritten by its next step.
    public func hiddenStates(_ batch: ForwardBatch, cache: PagedKVCache) throws -> UnsafeBufferPointer<Float> {
        try validate(batch, cache: cache)
        guard batch.logitRowCount == 0 else { throw ModelError.invalidBatch("a hidden-state step asks for no logits") }
        runLayers(batch, cache: cache)
        let width = configuration.embeddingLength, epsilon = configuration.rmsNormEpsilon
        let s = scratch
        weights.outputNorm.withUnsafeBufferPointer { gain in
            forEachRow(batch.tokenCount) { range in
                for row in range {
                    Normalization.rms(
                        s.hidden + row * width, weight: gain.baseAddress!, count: width, epsilon: epsilon,
                        output: s.normalized + row * width)
                }
            }
        }
        return UnsafeBufferPointer(start: s.normalized, count: batch.tokenCount * width)
    }

    /// Every layer of one step, leaving the residual stream [tokens × width] in `scratch.hidden`.
    private func runLayers(_ batch: ForwardBatch, cache: PagedKVCache) {
        embed(batch)
        computeRotaryAngles(batch)
        for layer in 0..<configuration.blockCount {
            architecture.runBlock(layer, of: self, batch: batch, cache: cache)
        }
    }

    /// Reads every page of the tensor data once, so that the first forward step does not stall
    /// on page faults, calling `progress` with the fraction done (0…1) about every 1%.
    /// The weights stay mapped, not copied: this only brings the file into the page cache.
    public func prefetchWeights(progress: (Double) -> Void = { _ in }) {
        let total = max(1, file.tensors.reduce(0) { $0 + $1.byteCount })
        let page = 4096
        var done = 0
        var reported = -1
        var checksum: UInt8 = 0
        for tensor in file.tensors {
            let bytes = file.data(of: tensor)
            var offset = 0
            while offset < bytes.count {
                checksum &+= bytes[offset]
                offset += page
            }
            done += bytes.count
            let percent = done * 100 / total
            if percent != reported {
                reported = percent
                progress(Double(done) / Double(total))
            }
        }
        // Keeps the reads from being optimised away.
        if checksum == 0x5A && done < 0 { print(checksum) }
    }

    func multiply(_ targets: [MatmulTarget], input: UnsafePointer<Float>, rows: Int) {
        targets.withUnsafeBufferPointer { targets in
            Matmul.multiply(targets, input: input, batch: rows, pool: pool, workspace: scratch.matmul, path: kernelPath)
        }
    }

    func multiply(
        _ weight: WeightMatrix, input: UnsafePointer<Float>, rows: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        Matmul.multiply(
            weight, input: input, batch: rows, output: output, pool: pool, workspace: scratch.matmul,
            path: kernelPath)
    }

    // MARK: - Validation

    private func validate(_ batch: ForwardBatch, cache: PagedKVCache) throws {
        guard batch.tokenCount > 0 else { throw ModelError.invalidBatch("the batch is empty") }
        guard batch.tokenCount <= scratch.maximumTokenCount else {
            throw ModelError.invalidBatch("\(batch.tokenCount) tokens exceed max_batch_tokens \(scratch.maximumTokenCount)")
        }
        guard batch.logitRowCount <= scratch.maximumLogitRows else {
            throw ModelError.invalidBatch("\(batch.logitRowCount) logit rows exceed max_logit_rows \(scratch.maximumLogitRows)")
        }
        guard batch.blockSize == cache.blockSize else {
            throw ModelError.invalidBatch("batch built for block size \(batch.blockSize), cache uses \(cache.blockSize)")
        }
        guard cache.layerCount == configuration.blockCount, cache.kvHeadCount == configuration.kvHeadCount,
            cache.headDimension == configuration.headDimension
        else {
            throw ModelError.invalidBatch("the KV cache was made for another model shape")
        }
        let vocabulary = configuration.vocabularySize
        for index in 0..<batch.tokenCount {
            let token = batch.tokens[index]
            guard token >= 0, Int(token) < vocabulary else {
                throw ModelError.tokenOutOfRange(token: token, vocabularySize: vocabulary)
            }
            let position = Int(batch.tokenPositions[index])
            guard position < contextLength else {
                throw ModelError.contextLengthExceeded(position: position, limit: contextLength)
            }
        }
        for sequence in 0..<batch.sequenceCount {
            let table = batch.blockTables + sequence * batch.maximumBlocksPerSequence
            for entry in 0..<Int(batch.sequenceBlockCounts[sequence]) {
                let block = table[entry]
                guard block >= 0, Int(block) < cache.blockCount else {
                    throw ModelError.invalidBatch("block id \(block) is outside the pool (0..<\(cache.blockCount))")
                }
            }
        }
    }

    // MARK: - Summary

    private static func summarize(file: GGUFFile, configuration: TransformerConfiguration, tied: Bool) -> ModelSummary {
        var counts: [String: Int] = [:]
        var parameters = 0
        for tensor in file.tensors {
            counts[tensor.type.description, default: 0] += 1
            parameters += tensor.elementCount
        }
        let types = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { (type: $0.key, count: $0.value) }
        return ModelSummary(
            name: file.string("general.name") ?? configuration.architecture.rawValue,
            architecture: configuration.architecture, fileByteCount: file.fileSize,
            parameterCount: parameters, tensorTypes: types, outputIsTiedToEmbedding: tied)
    }
}

extension TransformerModel {
    /// The RoPE of the layers with `base` and `frequencyScale`: LongRoPE's or Llama 3's per-pair
    /// factors, the attention factor, and with YaRN its per-pair mix and magnitude correction.
    static func rotaryEmbedding(
        _ configuration: TransformerConfiguration, layout: RotaryEmbedding.Layout, base: Float, frequencyScale: Float,
        factors: [Float]
    ) -> RotaryEmbedding {
        guard configuration.ropeYarn else {
            return RotaryEmbedding(
                layout: layout, dimensions: configuration.ropeDimensionCount, base: base, frequencyScale: frequencyScale,
                frequencyFactors: factors, magnitudeScale: configuration.ropeAttentionFactor)
        }
        return RotaryEmbedding(
            layout: layout, dimensions: configuration.ropeDimensionCount, base: base, frequencyScale: frequencyScale,
            frequencyFactors: factors,
            magnitudeScale: RotaryEmbedding.yarnMagnitudeScale(
                frequencyScale: frequencyScale, attentionFactor: configuration.ropeAttentionFactor),
            extrapolationMix: RotaryEmbedding.yarnMix(
                dimensions: configuration.ropeDimensionCount, base: base,
                originalContextLength: configuration.ropeOriginalContextLength))
    }
}
