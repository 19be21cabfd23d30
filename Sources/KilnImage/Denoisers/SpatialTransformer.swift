import KilnLayers
import KilnTensor

/// diffusers' `Transformer2DModel` over a feature map, with `BasicTransformerBlock`s inside:
/// GroupNorm → projection in → [self-attention, cross-attention to the text, GEGLU feed-forward,
/// each pre-LayerNorm with a residual] → projection out, plus the input.
struct SpatialTransformer: Sendable {
    struct Block: Sendable {
        let norm1: LayerNorm, selfAttention: AttentionLayer
        let norm2: LayerNorm, crossAttention: AttentionLayer
        let norm3: LayerNorm, feedForwardIn: Linear, feedForwardOut: Linear
    }

    let norm: GroupNorm
    /// 1×1 convolutions (SD 1.x) or linear layers (`use_linear_projection`, SD 2.x).
    let projectInConvolution: Convolution?, projectInLinear: Linear?
    let projectOutConvolution: Convolution?, projectOutLinear: Linear?
    let blocks: [Block]
    let channels: Int

    init(_ store: WeightStore, _ name: String, channels: Int, heads: Int, contextWidth: Int, groups: Int) throws {
        self.channels = channels
        norm = try GroupNorm(store, name + ".norm", channels: channels, groups: groups, epsilon: 1e-6)
        let linearProjection = store.shape(of: name + ".proj_in.weight")?.count == 2
        projectInConvolution = linearProjection ? nil : try Convolution(store, name + ".proj_in")
        projectInLinear = linearProjection ? try Linear(store, name + ".proj_in", in: channels) : nil
        projectOutConvolution = linearProjection ? nil : try Convolution(store, name + ".proj_out")
        projectOutLinear = linearProjection ? try Linear(store, name + ".proj_out", out: channels) : nil
        let inner = projectInConvolution?.outChannels ?? projectInLinear!.outFeatures
        var blocks: [Block] = []
        var index = 0
        while store.contains("\(name).transformer_blocks.\(index).norm1.weight") {
            let prefix = "\(name).transformer_blocks.\(index)"
            let projection = try Linear(store, prefix + ".ff.net.0.proj", in: inner)
            guard projection.outFeatures % 2 == 0 else {
                throw ImageError.invalidWeights("\(prefix).ff.net.0.proj must give an even width for GEGLU")
            }
            blocks.append(
                Block(
                    norm1: try LayerNorm(store, prefix + ".norm1", width: inner, epsilon: 1e-5),
                    selfAttention: try AttentionLayer(diffusers: store, prefix + ".attn1", heads: heads),
                    norm2: try LayerNorm(store, prefix + ".norm2", width: inner, epsilon: 1e-5),
                    crossAttention: try AttentionLayer(diffusers: store, prefix + ".attn2", heads: heads, contextWidth: contextWidth),
                    norm3: try LayerNorm(store, prefix + ".norm3", width: inner, epsilon: 1e-5),
                    feedForwardIn: projection,
                    feedForwardOut: try Linear(store, prefix + ".ff.net.2", in: projection.outFeatures / 2, out: inner)))
            index += 1
        }
        guard !blocks.isEmpty else { throw ImageError.invalidWeights("\(name) has no transformer_blocks") }
        self.blocks = blocks
    }

    /// x [channels, h, w] attending to `context` [contextTokens, contextWidth].
    func callAsFunction(_ x: FeatureMap, context: [Float], contextTokens: Int, workspace: Workspace) throws -> FeatureMap {
        let tokens = x.pixels
        let normalized = norm(x, workspace: workspace)
        var hidden: [Float]
        var width: Int
        if let projectInConvolution {
            let projected = try projectInConvolution(normalized, workspace: workspace)
            hidden = projected.tokens()
            width = projected.channels
        } else {
            width = projectInLinear!.outFeatures
            hidden = projectInLinear!(normalized.tokens(), rows: tokens, workspace: workspace)
        }
        for block in blocks {
            add(&hidden, block.selfAttention(block.norm1(hidden, rows: tokens, workspace: workspace), tokens: tokens, workspace: workspace))
            add(
                &hidden,
                block.crossAttention(
                    block.norm2(hidden, rows: tokens, workspace: workspace), tokens: tokens,
                    context: context, contextTokens: contextTokens, workspace: workspace))
            let doubled = block.feedForwardIn(block.norm3(hidden, rows: tokens, workspace: workspace), rows: tokens, workspace: workspace)
            let half = doubled.count / tokens / 2
            let gated = doubled.withUnsafeBufferPointer { input in
                [Float].filled(tokens * half) { output in
                    Activation.geglu(input.baseAddress!, into: output, rows: tokens, width: half, context: workspace.kernels)
                }
            }
            add(&hidden, block.feedForwardOut(gated, rows: tokens, workspace: workspace))
        }
        let result: FeatureMap
        if let projectOutConvolution {
            let map = FeatureMap.fromTokens(hidden, channels: width, height: x.height, width: x.width)
            result = try projectOutConvolution(map, workspace: workspace)
        } else {
            let projected = projectOutLinear!(hidden, rows: tokens, workspace: workspace)
            result = FeatureMap.fromTokens(projected, channels: channels, height: x.height, width: x.width)
        }
        return result + x
    }

    private func add(_ target: inout [Float], _ values: [Float]) {
        for index in target.indices { target[index] += values[index] }
    }
}
