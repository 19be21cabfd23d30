import Foundation
import KilnLayers
import KilnTensor

/// A BERT-family encoder: token, position and token-type embeddings, then post-norm layers of
/// bidirectional self-attention and a GELU feed-forward block. Reads a Hugging Face folder's
/// `model.safetensors` (names with or without the `bert.` prefix) or a llama.cpp `bert` GGUF in
/// place.
///
/// A batch is a list of inputs laid end to end, [totalTokens, width], with no padding: the linear
/// layers run over every token of the batch at once, and attention runs input by input, so a short
/// input never pays for a long one beside it.
final class BertModel: @unchecked Sendable {
    struct Layer {
        let query: Linear, key: Linear, value: Linear, attentionOutput: Linear
        let attentionNorm: LayerNorm
        let up: Linear, down: Linear
        let outputNorm: LayerNorm
    }

    let configuration: BertConfiguration
    /// [vocabulary, width], [maxPositions, width], [tokenTypes, width].
    let wordEmbeddings: Weight
    let positionEmbeddings: Weight
    let tokenTypeEmbeddings: Weight
    let embeddingNorm: LayerNorm
    private(set) var layers: [Layer]

    /// The tensor names of one file layout: Hugging Face's (`model.safetensors`, with or without
    /// the `bert.` prefix) or llama.cpp's (a GGUF of its `bert` architecture).
    struct TensorNames {
        var words, positions, tokenTypes, embeddingNorm: String
        /// A layer's tensors, `#` standing for the layer's index: query, key, value, attention
        /// output, its norm, feed-forward up and down, the output norm.
        var layer: [String]

        static let huggingFace = TensorNames(
            words: "embeddings.word_embeddings.weight", positions: "embeddings.position_embeddings.weight",
            tokenTypes: "embeddings.token_type_embeddings.weight", embeddingNorm: "embeddings.LayerNorm",
            layer: [
                "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
            ].map { "encoder.layer.#." + $0 })
        static let gguf = TensorNames(
            words: "token_embd.weight", positions: "position_embd.weight", tokenTypes: "token_types.weight",
            embeddingNorm: "token_embd_norm",
            layer: ["attn_q", "attn_k", "attn_v", "attn_output", "attn_output_norm", "ffn_up", "ffn_down", "layer_output_norm"]
                .map { "blk.#." + $0 })
    }

    /// Reads the encoder's tensors from `store`, named as `names` says. The word embeddings stay
    /// in place in their stored type (F32, F16 or BF16); each token's row is widened as it is read.
    init(store: WeightStore, names: TensorNames, configuration: BertConfiguration) throws {
        self.configuration = configuration
        let c = configuration
        wordEmbeddings = try store.weight(names.words, shape: [c.vocabularySize, c.width])
        positionEmbeddings = try store.floats(names.positions, shape: [c.maxPositions, c.width])
        tokenTypeEmbeddings = try store.floats(names.tokenTypes, shape: [c.tokenTypes, c.width])
        embeddingNorm = try LayerNorm(store, names.embeddingNorm, width: c.width, epsilon: c.layerNormEpsilon)
        layers = try (0..<c.layers).map { index in
            let n = names.layer.map { $0.replacingOccurrences(of: "#", with: String(index)) }
            return Layer(
                query: try Linear(store, n[0], in: c.width, out: c.width),
                key: try Linear(store, n[1], in: c.width, out: c.width),
                value: try Linear(store, n[2], in: c.width, out: c.width),
                attentionOutput: try Linear(store, n[3], in: c.width, out: c.width),
                attentionNorm: try LayerNorm(store, n[4], width: c.width, epsilon: c.layerNormEpsilon),
                up: try Linear(store, n[5], in: c.width, out: c.intermediate),
                down: try Linear(store, n[6], in: c.intermediate, out: c.width),
                outputNorm: try LayerNorm(store, n[7], width: c.width, epsilon: c.layerNormEpsilon))
        }
    }

    /// Lays `pass`'s inputs end to end in its scratch and computes the normalized embeddings,
    /// the state before layer 0. Every input is non-empty, within `maxPositions`, and holds ids
    /// inside the vocabulary (the caller checks).
    func begin(_ pass: EncoderPass, context: KernelContext) {
        let c = configuration
        let longest = pass.inputs.reduce(0) { max($0, $1.count) }
        let perSlot = SequenceAttention.scratchCount(
            queryCount: longest, keyCount: longest, heads: c.heads, headDim: c.headDimension, context: context)
        pass.scratch.reserve(tokens: pass.totalTokens, attentionFloats: perSlot * context.width)
        pass.attentionScratchPerSlot = perSlot
        embed(pass.inputs, into: pass.scratch.hidden)
        embeddingNorm.apply(pass.scratch.hidden, rows: pass.totalTokens, into: pass.scratch.hidden, context: context)
    }

    // A layer runs in three phases, so that a scheduler can spread it over several iterations
    // (`EncoderPass.advance`): the projections and the feed-forward block treat every token row
    // on its own and may run a range of rows at a time; attention mixes the rows of one input and
    // runs a range of whole inputs. Each row's arithmetic is the same however the rows are cut.

    /// Layer `index`'s query, key and value projections of rows `rows` of the pass.
    func project(_ index: Int, rows: Range<Int>, of pass: EncoderPass, context: KernelContext) {
        let layer = layers[index], scratch = pass.scratch, offset = rows.lowerBound * configuration.width
        layer.query.apply(scratch.hidden + offset, rows: rows.count, into: scratch.query + offset, context: context)
        layer.key.apply(scratch.hidden + offset, rows: rows.count, into: scratch.key + offset, context: context)
        layer.value.apply(scratch.hidden + offset, rows: rows.count, into: scratch.value + offset, context: context)
    }

    /// Self-attention of inputs `inputs` of the pass (their projections are done).
    func attend(inputs range: Range<Int>, of pass: EncoderPass, context: KernelContext) {
        let c = configuration, scratch = pass.scratch, inputs = pass.inputs
        let scale = 1 / Float(c.headDimension).squareRoot()
        let attend = { (input: Int, slotScratch: UnsafeMutablePointer<Float>) in
            let start = pass.offsets[input] * c.width
            SequenceAttention.attend(
                query: scratch.query + start, key: scratch.key + start, value: scratch.value + start,
                output: scratch.attended + start, queryCount: inputs[input].count, keyCount: inputs[input].count,
                heads: c.heads, headDim: c.headDimension, scale: scale, scratch: slotScratch, context: context)
        }
        if range.count < 2 * context.width {
            // Few inputs: each one uses every thread (its heads run side by side).
            for input in range { attend(input, scratch.attention) }
        } else {
            // Many: each input attends on one thread, side by side.
            context.runInSlots(range.count, slots: context.width) { slot, task in
                KernelContext.serially { attend(range.lowerBound + task, scratch.attention + slot * pass.attentionScratchPerSlot) }
            }
        }
    }

    /// Layer `index`'s rest for rows `rows` (their attention is done): hidden = LayerNorm(hidden +
    /// attention output), then the same around the feed-forward block. The rows' states become
    /// the layer's output.
    func feedForward(_ index: Int, rows: Range<Int>, of pass: EncoderPass, context: KernelContext) {
        let c = configuration, layer = layers[index], scratch = pass.scratch
        let count = rows.count, offset = rows.lowerBound * c.width
        let hidden = scratch.hidden + offset, branch = scratch.branch + offset
        let inner = scratch.inner + rows.lowerBound * c.intermediate
        layer.attentionOutput.apply(scratch.attended + offset, rows: count, into: branch, context: context)
        Elementwise.add(branch, hidden, count: count * c.width, into: hidden)
        layer.attentionNorm.apply(hidden, rows: count, into: hidden, context: context)
        layer.up.apply(hidden, rows: count, into: inner, context: context)
        if c.tanhGELU {
            Activation.geluTanhInPlace(inner, count: count * c.intermediate)
        } else {
            Activation.geluInPlace(inner, count: count * c.intermediate)
        }
        layer.down.apply(inner, rows: count, into: branch, context: context)
        Elementwise.add(branch, hidden, count: count * c.width, into: hidden)
        layer.outputNorm.apply(hidden, rows: count, into: hidden, context: context)
    }

    /// hidden[t] = word[id] + position[p] + tokenType[0] for token t at position p of its input.
    private func embed(_ inputs: [[Int32]], into hidden: UnsafeMutablePointer<Float>) {
        let width = configuration.width, wordType = wordEmbeddings.elementType
        let words = wordEmbeddings.base, positions = positionEmbeddings.pointer, types = tokenTypeEmbeddings.pointer
        var row = 0
        for input in inputs {
            for (position, id) in input.enumerated() {
                let target = hidden + row * width, place = positions + position * width
                MatrixElements.widen(words + Int(id) * width * wordType.byteCount, type: wordType, count: width, into: target)
                for dimension in 0..<width { target[dimension] = target[dimension] + place[dimension] + types[dimension] }
                row += 1
            }
        }
    }

    /// Packs every linear layer's weight once for the GEMM kernel (see `PackedWeight`): a pass of
    /// one short sentence otherwise spends as long packing weights as multiplying them.
    func packLinearWeights(context: KernelContext) {
        layers = layers.map { layer in
            Layer(
                query: layer.query.packed(context: context), key: layer.key.packed(context: context),
                value: layer.value.packed(context: context), attentionOutput: layer.attentionOutput.packed(context: context),
                attentionNorm: layer.attentionNorm, up: layer.up.packed(context: context), down: layer.down.packed(context: context),
                outputNorm: layer.outputNorm)
        }
    }
}
