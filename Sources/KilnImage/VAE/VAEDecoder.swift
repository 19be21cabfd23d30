import KilnLayers
import KilnTensor

/// The decoder half of diffusers' `AutoencoderKL`: latents ÷ scaling factor (+ shift) →
/// post-quant 1×1 convolution → conv → middle block (ResNet, single-head spatial self-attention,
/// ResNet) → up blocks of ResNets with nearest ×2 upsampling → GroupNorm, SiLU, conv → RGB in [−1, 1].
public final class VAEDecoder: @unchecked Sendable {
    struct MidAttention: Sendable {
        let norm: GroupNorm
        let attention: AttentionLayer
    }

    public let latentChannels: Int
    public let scalingFactor: Float
    public let shiftFactor: Float
    /// Each up block but the last doubles the size: images are latents × 2^this.
    public let upsamplings: Int
    let postQuantConv: Convolution?
    let convIn: Convolution
    let midResnets: [ResnetBlock]
    let midAttention: MidAttention?
    let upBlocks: [(resnets: [ResnetBlock], upsampler: Convolution?)]
    let normOut: GroupNorm
    let convOut: Convolution
    let store: WeightStore
    /// Where the decoder's kernels run.
    public let kernels: KernelContext

    public init(directory: String, kernels: KernelContext) throws {
        self.kernels = kernels
        let config = try ComponentConfig(path: directory + "/config.json")
        let store = try WeightStore(path: directory + "/diffusion_pytorch_model.safetensors")
        self.store = store
        let channels = try config.ints("block_out_channels")
        let layers = try config.int("layers_per_block", default: 1, range: 1...16)
        let groups = try config.int("norm_num_groups", default: 32, range: 1...1024)
        latentChannels = try config.int("latent_channels", default: 4, range: 1...64)
        scalingFactor = Float(try config.double("scaling_factor", default: 0.18215))
        shiftFactor = Float(try config.double("shift_factor", default: 0))
        guard scalingFactor != 0 else { throw ImageError.invalidConfig("\(config.path): scaling_factor must not be 0") }
        let epsilon: Float = 1e-6
        postQuantConv = try config.bool("use_post_quant_conv", default: true) ? try Convolution(store, "post_quant_conv") : nil
        convIn = try Convolution(store, "decoder.conv_in")
        guard (postQuantConv?.kernel.inChannels ?? convIn.kernel.inChannels) == latentChannels else {
            throw ImageError.invalidWeights("VAE decoder input channels differ from latent_channels \(latentChannels)")
        }
        midResnets = try (0..<2).map {
            try ResnetBlock(store, "decoder.mid_block.resnets.\($0)", groups: groups, epsilon: epsilon, timeEmbedding: nil)
        }
        let midWidth = midResnets[0].outChannels
        if store.contains("decoder.mid_block.attentions.0.to_q.weight") {
            let prefix = "decoder.mid_block.attentions.0"
            let attention = try AttentionLayer(diffusersBiased: store, prefix, heads: 1)
            midAttention = MidAttention(
                norm: try GroupNorm(store, prefix + ".group_norm", channels: midWidth, groups: groups, epsilon: epsilon),
                attention: attention)
        } else {
            midAttention = nil
        }
        var blocks: [(resnets: [ResnetBlock], upsampler: Convolution?)] = []
        for block in 0..<channels.count {
            let resnets = try (0...layers).map {
                try ResnetBlock(store, "decoder.up_blocks.\(block).resnets.\($0)", groups: groups, epsilon: epsilon, timeEmbedding: nil)
            }
            let upsampler = block < channels.count - 1 ? try Convolution(store, "decoder.up_blocks.\(block).upsamplers.0.conv") : nil
            blocks.append((resnets, upsampler))
        }
        upBlocks = blocks
        upsamplings = channels.count - 1
        normOut = try GroupNorm(store, "decoder.conv_norm_out", channels: channels[0], groups: groups, epsilon: epsilon)
        convOut = try Convolution(store, "decoder.conv_out")
    }

    /// RGB [3, h·2^upsamplings, w·2^upsamplings] in about [−1, 1] from latents [latentChannels, h, w]
    /// as the sampler leaves them (this divides by the scaling factor).
    public func decode(_ latents: FeatureMap) throws -> FeatureMap {
        guard latents.channels == latentChannels else {
            throw ImageError.invalidRequest("VAE expects \(latentChannels) latent channels, got \(latents.channels)")
        }
        let workspace = Workspace(kernels: kernels)
        var z = latents
        for index in z.values.indices { z.values[index] = z.values[index] / scalingFactor + shiftFactor }
        if let postQuantConv { z = try postQuantConv(z, workspace: workspace) }
        var h = try convIn(z, workspace: workspace)
        h = try midResnets[0](h, activatedTime: nil, workspace: workspace)
        if let midAttention {
            let tokens = midAttention.norm(h, workspace: workspace).tokens()
            let attended = midAttention.attention(tokens, tokens: h.pixels, workspace: workspace)
            h = FeatureMap.fromTokens(attended, channels: h.channels, height: h.height, width: h.width) + h
        }
        h = try midResnets[1](h, activatedTime: nil, workspace: workspace)
        for block in upBlocks {
            for resnet in block.resnets { h = try resnet(h, activatedTime: nil, workspace: workspace) }
            if let upsampler = block.upsampler { h = try upsampler(h.upsampledNearest2x(), workspace: workspace) }
        }
        return try convOut(normOut(h, silu: true, workspace: workspace), workspace: workspace)
    }
}
