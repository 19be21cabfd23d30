import KilnLayers
import KilnTensor

/// One PixArt-α transformer block (diffusers' `BasicTransformerBlock` with `norm_type
/// "ada_norm_single"`), over the patch tokens of one image:
///
///     n = LayerNorm(h)·(1 + scale₁) + shift₁;   h += gate₁ ⊙ SelfAttention(n)
///     h += CrossAttention(h, caption)                       (no norm before it, as in PixArt)
///     n = LayerNorm(h)·(1 + scale₂) + shift₂;   h += gate₂ ⊙ MLP(n)    (MLP: GELU-tanh)
///
/// where (shift₁, scale₁, gate₁, shift₂, scale₂, gate₂) = the block's `scale_shift_table` [6, width]
/// + the model's shared timestep modulation [6, width].
struct DiTBlock: Sendable {
    let selfAttention: AttentionLayer
    let crossAttention: AttentionLayer
    let feedForwardIn: Linear, feedForwardOut: Linear
    /// [6, width]: the block's own offsets to the timestep modulation.
    let scaleShiftTable: Weight
    let width: Int
    let epsilon: Float

    /// `contextWidth`: the width of the caption tokens the cross-attention reads.
    init(_ store: WeightStore, _ name: String, width: Int, contextWidth: Int, heads: Int, epsilon: Float) throws {
        for norm in ["norm1", "norm2"] where store.contains("\(name).\(norm).weight") {
            // Elementwise-affine norms are a PixArt variant nobody ships; refuse rather than ignore them.
            throw ImageError.invalidWeights("\(name).\(norm) has affine weights; only norm_elementwise_affine false is supported")
        }
        selfAttention = try AttentionLayer(diffusersBiased: store, name + ".attn1", heads: heads)
        crossAttention = try AttentionLayer(diffusersBiased: store, name + ".attn2", heads: heads)
        guard selfAttention.query.inFeatures == width, selfAttention.output.outFeatures == width,
            crossAttention.query.inFeatures == width, crossAttention.key.inFeatures == contextWidth, crossAttention.value.inFeatures == contextWidth,
            crossAttention.output.outFeatures == width
        else {
            throw ImageError.invalidWeights("\(name): attention projections do not match the width \(width)")
        }
        feedForwardIn = try Linear(store, name + ".ff.net.0.proj", in: width)
        feedForwardOut = try Linear(store, name + ".ff.net.2", in: feedForwardIn.outFeatures, out: width)
        scaleShiftTable = try store.weight(name + ".scale_shift_table", shape: [6, width])
        self.width = width
        self.epsilon = epsilon
    }

    /// hidden [tokens, width] in place; `modulation` [6, width] is the model's timestep projection,
    /// `caption` [captionTokens, contextWidth] the (projected) text.
    func callAsFunction(
        _ hidden: inout [Float], tokens: Int, modulation: [Float], caption: [Float],
        captionTokens: Int, workspace: Workspace
    ) {
        // (shift, scale, gate) for attention, then for the MLP.
        var terms = modulation
        for index in terms.indices { terms[index] += scaleShiftTable.pointer[index] }
        let normalized = modulated(hidden, tokens: tokens, terms: terms, shiftRow: 0, scaleRow: 1)
        let attended = selfAttention(normalized, tokens: tokens, workspace: workspace)
        addGated(attended, to: &hidden, tokens: tokens, terms: terms, gateRow: 2)

        let crossed = crossAttention(hidden, tokens: tokens, context: caption, contextTokens: captionTokens, workspace: workspace)
        for index in hidden.indices { hidden[index] += crossed[index] }

        var inner = feedForwardIn(
            modulated(hidden, tokens: tokens, terms: terms, shiftRow: 3, scaleRow: 4), rows: tokens,
            workspace: workspace)
        inner.withUnsafeMutableBufferPointer { Activation.geluTanhInPlace($0.baseAddress!, count: $0.count) }
        addGated(feedForwardOut(inner, rows: tokens, workspace: workspace), to: &hidden, tokens: tokens, terms: terms, gateRow: 5)
    }

    private func modulated(_ hidden: [Float], tokens: Int, terms: [Float], shiftRow: Int, scaleRow: Int) -> [Float] {
        var output = [Float](repeating: 0, count: hidden.count)
        hidden.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                terms.withUnsafeBufferPointer { t in
                    Modulation.modulatedLayerNorm(
                        input.baseAddress!, into: out.baseAddress!, rows: tokens, width: width,
                        epsilon: epsilon, shift: t.baseAddress! + shiftRow * width,
                        scale: t.baseAddress! + scaleRow * width)
                }
            }
        }
        return output
    }

    private func addGated(_ values: [Float], to hidden: inout [Float], tokens: Int, terms: [Float], gateRow: Int) {
        values.withUnsafeBufferPointer { input in
            hidden.withUnsafeMutableBufferPointer { target in
                terms.withUnsafeBufferPointer { t in
                    Modulation.addGated(
                        input.baseAddress!, gate: t.baseAddress! + gateRow * width,
                        to: target.baseAddress!, rows: tokens, width: width)
                }
            }
        }
    }
}
