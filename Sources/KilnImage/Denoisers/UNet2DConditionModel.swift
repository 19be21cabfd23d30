import Foundation
import KilnLayers
import KilnTensor

/// diffusers' `UNet2DConditionModel` (the Stable Diffusion 1.x / 2.x denoiser): a sinusoidal
/// timestep embedding, down blocks of ResNets (with cross-attention transformers where configured),
/// a middle block, up blocks that take the down path's skips, and an output convolution.
/// Channel counts come from the weights' shapes; the block layout from config.json.
public final class UNet2DConditionModel: @unchecked Sendable {
    struct Stage: Sendable {
        var resnets: [ResnetBlock]
        var attentions: [SpatialTransformer]
        var resampler: Convolution?
    }

    public let inChannels: Int
    public let outChannels: Int
    public let contextWidth: Int
    /// Down blocks that halve the size (rounding up).
    public let downsamplings: Int
    let timeProjectionWidth: Int
    let flipSinToCos: Bool
    let frequencyShift: Double
    let timeLinear1: Linear, timeLinear2: Linear
    let convIn: Convolution
    let down: [Stage]
    let midResnets: [ResnetBlock]
    let midAttention: SpatialTransformer?
    let up: [Stage]
    let normOut: GroupNorm
    let convOut: Convolution
    let store: WeightStore
    /// Where the model's kernels run.
    public let kernels: KernelContext

    /// Loads `directory/config.json` and `directory/diffusion_pytorch_model.safetensors`; the
    /// model's kernels run on `kernels`.
    public init(directory: String, kernels: KernelContext) throws {
        self.kernels = kernels
        let config = try ComponentConfig(path: directory + "/config.json")
        let store = try WeightStore(path: directory + "/diffusion_pytorch_model.safetensors")
        self.store = store
        for unsupported in ["addition_embed_type", "class_embed_type", "encoder_hid_dim"] where config.has(unsupported) {
            throw ImageError.invalidConfig("\(config.path): \(unsupported) is not supported (SD 1.x/2.x UNets only)")
        }
        if try config.string("resnet_time_scale_shift", default: "default") != "default" {
            throw ImageError.invalidConfig("\(config.path): only resnet_time_scale_shift \"default\" is supported")
        }
        let channels = try config.ints("block_out_channels")
        let blocks = channels.count
        let layers = try config.int("layers_per_block", default: 2, range: 1...16)
        let downTypes = try config.strings("down_block_types"), upTypes = try config.strings("up_block_types")
        guard downTypes.count == blocks, upTypes.count == blocks else {
            throw ImageError.invalidConfig("\(config.path): block types and block_out_channels differ in length")
        }
        let headKey = config.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim"
        let heads = try config.ints(headKey, count: blocks)
        let groups = try config.int("norm_num_groups", default: 32, range: 1...1024)
        let epsilon = Float(try config.double("norm_eps", default: 1e-5))
        let contextWidth = try config.int("cross_attention_dim", range: 1...65536)
        self.contextWidth = contextWidth
        inChannels = try config.int("in_channels", default: 4, range: 1...64)
        outChannels = try config.int("out_channels", default: 4, range: 1...64)
        flipSinToCos = try config.bool("flip_sin_to_cos", default: true)
        frequencyShift = try config.double("freq_shift", default: 0)
        timeProjectionWidth = channels[0]

        timeLinear1 = try Linear(store, "time_embedding.linear_1", in: channels[0])
        timeLinear2 = try Linear(store, "time_embedding.linear_2", in: timeLinear1.outFeatures)
        let timeWidth = timeLinear2.outFeatures
        convIn = try Convolution(store, "conv_in")
        guard convIn.kernel.inChannels == inChannels else {
            throw ImageError.invalidWeights("conv_in takes \(convIn.kernel.inChannels) channels, config says \(inChannels)")
        }

        func stage(_ prefix: String, type: String, resnetCount: Int, heads: Int, resampler: String?, stride: Int) throws -> Stage {
            let crossAttention = type.hasPrefix("CrossAttn")
            guard crossAttention || type == "DownBlock2D" || type == "UpBlock2D" else {
                throw ImageError.invalidConfig("\(config.path): block type \(type) is not supported")
            }
            var resnets: [ResnetBlock] = [], attentions: [SpatialTransformer] = []
            for index in 0..<resnetCount {
                let resnet = try ResnetBlock(store, "\(prefix).resnets.\(index)", groups: groups, epsilon: epsilon, timeEmbedding: timeWidth)
                resnets.append(resnet)
                if crossAttention {
                    attentions.append(
                        try SpatialTransformer(
                            store, "\(prefix).attentions.\(index)", channels: resnet.outChannels,
                            heads: heads, contextWidth: contextWidth, groups: groups))
                }
            }
            let sampler = try resampler.map { try Convolution(store, "\(prefix).\($0).0.conv", stride: stride, padding: 1) }
            return Stage(resnets: resnets, attentions: attentions, resampler: sampler)
        }
        var downStages: [Stage] = []
        for block in 0..<blocks {
            downStages.append(
                try stage(
                    "down_blocks.\(block)", type: downTypes[block], resnetCount: layers, heads: heads[block],
                    resampler: block < blocks - 1 ? "downsamplers" : nil, stride: 2))
        }
        down = downStages
        downsamplings = blocks - 1
        let midType = try config.string("mid_block_type", default: "UNetMidBlock2DCrossAttn")
        guard midType == "UNetMidBlock2DCrossAttn" else {
            throw ImageError.invalidConfig("\(config.path): mid_block_type \(midType) is not supported")
        }
        midResnets = try (0..<2).map { try ResnetBlock(store, "mid_block.resnets.\($0)", groups: groups, epsilon: epsilon, timeEmbedding: timeWidth) }
        midAttention = try SpatialTransformer(
            store, "mid_block.attentions.0", channels: midResnets[0].outChannels,
            heads: heads[blocks - 1], contextWidth: contextWidth, groups: groups)
        var upStages: [Stage] = []
        let reversedHeads = Array(heads.reversed())
        for block in 0..<blocks {
            upStages.append(
                try stage(
                    "up_blocks.\(block)", type: upTypes[block], resnetCount: layers + 1, heads: reversedHeads[block],
                    resampler: block < blocks - 1 ? "upsamplers" : nil, stride: 1))
        }
        up = upStages
        normOut = try GroupNorm(store, "conv_norm_out", channels: channels[0], groups: groups, epsilon: epsilon)
        convOut = try Convolution(store, "conv_out")
    }

    /// The sinusoidal timestep embedding (diffusers' `get_timestep_embedding`), in float32 as
    /// diffusers computes it: [sin | cos] of t·exp(−ln(10000)·i/(half − shift)), halves swapped
    /// when `flip_sin_to_cos`.
    public static func timestepEmbedding(_ timestep: Double, width: Int, flipSinToCos: Bool, frequencyShift: Double) -> [Float] {
        let half = width / 2
        var result = [Float](repeating: 0, count: width)
        let logPeriod = Float(-log(10000.0))
        for index in 0..<half {
            let exponent = Float(index) * logPeriod / Float(Double(half) - frequencyShift)
            let argument = Float(timestep) * expf(exponent)
            let (sine, cosine) = (sinf(argument), cosf(argument))
            result[flipSinToCos ? half + index : index] = sine
            result[flipSinToCos ? index : half + index] = cosine
        }
        return result
    }

    /// The model's output (ε or v) for one latent [inChannels, h, w] at `timestep`, conditioned on
    /// `context` [contextTokens, contextWidth].
    public func predict(_ sample: FeatureMap, timestep: Double, context: [Float], contextTokens: Int) throws -> FeatureMap {
        guard sample.channels == inChannels, sample.height >= 1, sample.width >= 1 else {
            throw ImageError.invalidRequest("UNet input must be \(inChannels)×H×W; got \(sample.channels)×\(sample.height)×\(sample.width)")
        }
        guard context.count == contextTokens * contextWidth else {
            throw ImageError.invalidRequest("UNet context must be \(contextTokens)×\(contextWidth)")
        }
        let projected = Self.timestepEmbedding(timestep, width: timeProjectionWidth, flipSinToCos: flipSinToCos, frequencyShift: frequencyShift)
        // A workspace per call: the model itself holds only read-only weights, so calls may overlap.
        let workspace = Workspace(kernels: kernels)
        var time = timeLinear1(projected, rows: 1, workspace: workspace)
        Activation.siluInPlace(&time, count: time.count)
        var activatedTime = timeLinear2(time, rows: 1, workspace: workspace)
        Activation.siluInPlace(&activatedTime, count: activatedTime.count)

        var h = try convIn(sample, workspace: workspace)
        var skips = [h]
        for stage in down {
            for (index, resnet) in stage.resnets.enumerated() {
                h = try resnet(h, activatedTime: activatedTime, workspace: workspace)
                if !stage.attentions.isEmpty {
                    h = try stage.attentions[index](h, context: context, contextTokens: contextTokens, workspace: workspace)
                }
                skips.append(h)
            }
            if let downsampler = stage.resampler {
                h = try downsampler(h, workspace: workspace)
                skips.append(h)
            }
        }
        h = try midResnets[0](h, activatedTime: activatedTime, workspace: workspace)
        if let midAttention { h = try midAttention(h, context: context, contextTokens: contextTokens, workspace: workspace) }
        h = try midResnets[1](h, activatedTime: activatedTime, workspace: workspace)
        for stage in up {
            for (index, resnet) in stage.resnets.enumerated() {
                h = try resnet(h.concatenated(with: skips.removeLast()), activatedTime: activatedTime, workspace: workspace)
                if !stage.attentions.isEmpty {
                    h = try stage.attentions[index](h, context: context, contextTokens: contextTokens, workspace: workspace)
                }
            }
            if let upsampler = stage.resampler {
                // To the size of the skip this level will meet (diffusers' upsample_size): ×2
                // unless a stride-2 convolution rounded an odd size up on the way down.
                let target = skips.last ?? h
                h = try upsampler(Self.resized(h, height: target.height, width: target.width), workspace: workspace)
            }
        }
        return try convOut(normOut(h, silu: true, workspace: workspace), workspace: workspace)
    }

    /// One batched call: sample i is conditioned on contexts[i]. Each sample's arithmetic is the
    /// same as alone, so results never depend on what else is in the batch.
    public func predict(batch: [FeatureMap], timestep: Double, contexts: [[Float]], contextTokens: Int) throws -> [FeatureMap] {
        guard batch.count == contexts.count else { throw ImageError.invalidRequest("batch and contexts differ in count") }
        return try predictEach(batch.count) { try predict(batch[$0], timestep: timestep, context: contexts[$0], contextTokens: contextTokens) }
    }

    static func resized(_ x: FeatureMap, height: Int, width: Int) -> FeatureMap {
        if height == 2 * x.height && width == 2 * x.width { return x.upsampledNearest2x() }
        var output = FeatureMap(zeros: x.channels, height: height, width: width)
        x.values.withUnsafeBufferPointer { input in
            output.values.withUnsafeMutableBufferPointer { out in
                Resample.resizeNearest(
                    input.baseAddress!, into: out.baseAddress!, channels: x.channels,
                    height: x.height, width: x.width, outHeight: height, outWidth: width)
            }
        }
        return output
    }
}
