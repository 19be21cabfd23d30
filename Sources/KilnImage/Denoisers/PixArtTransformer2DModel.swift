import Foundation
import KilnLayers
import KilnTensor

/// diffusers' `PixArtTransformer2DModel`, the PixArt-α diffusion transformer (DiT family):
///
///     image [C, H, W] → p×p patches → linear embedding + 2-D sin-cos positions → tokens [H·W/p², D]
///     timestep → sinusoid(256) → MLP → e [D] → SiLU → linear → modulation [6, D] (adaLN-single)
///     caption [T, caption_channels] → linear, GELU-tanh, linear → [T, D]
///     tokens → N × DiTBlock(modulation, caption) → LayerNorm·(1 + scale) + shift (from e)
///            → linear → patches [H·W/p², p²·C_out] → image [C_out, H, W]
///
/// Loaded from a diffusers `transformer/` folder; PixArt-α configs only (`norm_type
/// "ada_norm_single"`, no resolution/aspect-ratio conditioning). Weights are read-only after load,
/// so calls may run concurrently.
public final class PixArtTransformer2DModel: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let patchSize: Int
    /// Transformer width D (heads × head width).
    public let width: Int
    public let heads: Int
    /// Width of the text embeddings the model takes (`caption_channels`, or `cross_attention_dim`
    /// when there is no caption projection).
    public let contextWidth: Int
    /// The image side the model was trained at (config `sample_size`, in pixels of its input).
    public let sampleSize: Int
    public var blockCount: Int { blocks.count }

    let patchEmbedding: PatchEmbedding
    let timestepModulation: TimestepModulation
    let captionProjection: CaptionProjection?
    let blocks: [DiTBlock]
    let outputLayer: PixArtOutputLayer
    let epsilon: Float
    let baseSize: Double, interpolationScale: Double
    /// The position table of the native grid, [(sampleSize/p)², D]; other sizes compute theirs.
    let nativePositions: [Float]
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
        let normType = try config.string("norm_type", default: "ada_norm_single")
        guard normType == "ada_norm_single" else {
            throw ImageError.invalidConfig("\(config.path): norm_type \(normType) is not supported (ada_norm_single)")
        }
        let activation = try config.string("activation_fn", default: "gelu-approximate")
        guard activation == "gelu-approximate" else {
            throw ImageError.invalidConfig("\(config.path): activation_fn \(activation) is not supported (gelu-approximate)")
        }
        sampleSize = try config.int("sample_size", default: 128, range: 1...4096)
        let additional = config.has("use_additional_conditions") ? try config.bool("use_additional_conditions", default: false) : sampleSize == 128
        guard !additional else {
            throw ImageError.invalidConfig("\(config.path): resolution and aspect-ratio conditioning (use_additional_conditions) is not supported")
        }
        if config.has("attention_type"), try config.string("attention_type") != "default" {
            throw ImageError.invalidConfig("\(config.path): only attention_type \"default\" is supported")
        }
        heads = try config.int("num_attention_heads", range: 1...512)
        let headWidth = try config.int("attention_head_dim", range: 1...1024)
        width = heads * headWidth
        guard width % 4 == 0 else { throw ImageError.invalidConfig("\(config.path): width \(width) must be a multiple of 4 for 2-D positions") }
        inChannels = try config.int("in_channels", default: 4, range: 1...64)
        outChannels = config.has("out_channels") ? try config.int("out_channels", range: 1...128) : inChannels
        patchSize = try config.int("patch_size", default: 2, range: 1...64)
        guard sampleSize % patchSize == 0 else { throw ImageError.invalidConfig("\(config.path): sample_size is not a multiple of patch_size") }
        epsilon = Float(try config.double("norm_eps", default: 1e-6))
        baseSize = Double(sampleSize / patchSize)
        interpolationScale = config.has("interpolation_scale") ? try config.double("interpolation_scale") : Double(max(sampleSize / 64, 1))
        guard interpolationScale > 0 else { throw ImageError.invalidConfig("\(config.path): interpolation_scale must be positive") }

        patchEmbedding = try PatchEmbedding(store, "pos_embed.proj", width: width, channels: inChannels, patchSize: patchSize)
        timestepModulation = try TimestepModulation(store, "adaln_single", width: width)
        if store.contains("caption_projection.linear_1.weight") {
            let projection = try CaptionProjection(store, "caption_projection", width: width)
            captionProjection = projection
            contextWidth = projection.inFeatures
        } else {
            captionProjection = nil
            contextWidth = try config.int("cross_attention_dim", range: 1...65536)
        }
        let attentionContextWidth = captionProjection == nil ? contextWidth : width
        let layerCount = try config.int("num_layers", range: 1...256)
        let (blockWidth, blockHeads, blockEpsilon) = (width, heads, epsilon)
        blocks = try (0..<layerCount).map {
            try DiTBlock(
                store, "transformer_blocks.\($0)", width: blockWidth, contextWidth: attentionContextWidth,
                heads: blockHeads, epsilon: blockEpsilon)
        }
        guard !store.contains("transformer_blocks.\(layerCount).scale_shift_table") else {
            throw ImageError.invalidWeights("the weights hold more transformer blocks than num_layers \(layerCount)")
        }
        outputLayer = try PixArtOutputLayer(store, width: width, patchSize: patchSize, outChannels: outChannels)
        let grid = sampleSize / patchSize
        nativePositions = Patches.sinCosPositions(
            rows: grid, columns: grid, width: width, baseSize: baseSize,
            interpolationScale: interpolationScale)
    }

    /// The model's output (ε) for one image [inChannels, h, w] at `timestep`, conditioned on
    /// `context` [contextTokens, contextWidth]. h and w must be multiples of the patch size.
    public func predict(_ sample: FeatureMap, timestep: Double, context: [Float], contextTokens: Int) throws -> FeatureMap {
        guard sample.channels == inChannels, sample.height >= patchSize, sample.width >= patchSize,
            sample.height % patchSize == 0, sample.width % patchSize == 0
        else {
            throw ImageError.invalidRequest(
                "transformer input must be \(inChannels)×H×W with H and W positive multiples of \(patchSize); got \(sample.channels)×\(sample.height)×\(sample.width)"
            )
        }
        guard contextTokens >= 1, context.count == contextTokens * contextWidth else {
            throw ImageError.invalidRequest("transformer context must be \(contextTokens)×\(contextWidth) (at least one token)")
        }
        guard timestep.isFinite else { throw ImageError.invalidRequest("timestep must be finite") }
        let rows = sample.height / patchSize, columns = sample.width / patchSize
        let tokens = rows * columns
        let workspace = Workspace(kernels: kernels)

        // Patch embedding [tokens, D] plus the grid's positions.
        var hidden = [Float](repeating: 0, count: tokens * width)
        let patches = workspace.buffer(patchEmbedding.scratchCount(height: sample.height, width: sample.width))
        sample.values.withUnsafeBufferPointer { image in
            hidden.withUnsafeMutableBufferPointer { output in
                patchEmbedding.apply(
                    image.baseAddress!, height: sample.height, width: sample.width, into: output.baseAddress!,
                    patches: patches, context: kernels)
            }
        }
        let positions =
            rows == sampleSize / patchSize && columns == sampleSize / patchSize
            ? nativePositions
            : Patches.sinCosPositions(rows: rows, columns: columns, width: width, baseSize: baseSize, interpolationScale: interpolationScale)
        for index in hidden.indices { hidden[index] += positions[index] }

        // Timestep: e [D] conditions the output norm; the modulation [6, D] every block.
        let (embedded, modulation) = timestepModulation(timestep, workspace: workspace)
        let caption = captionProjection?(context, tokens: contextTokens, workspace: workspace) ?? context
        for block in blocks {
            block(&hidden, tokens: tokens, modulation: modulation, caption: caption, captionTokens: contextTokens, workspace: workspace)
        }
        var output = FeatureMap(zeros: outChannels, height: sample.height, width: sample.width)
        output.values.withUnsafeMutableBufferPointer { out in
            outputLayer.apply(hidden, embedded: embedded, height: sample.height, width: sample.width, into: out.baseAddress!, workspace: workspace)
        }
        return output
    }

    /// One batched call: sample i at timesteps[i], conditioned on contexts[i]. Each sample's
    /// arithmetic is the same as alone, so results never depend on what else is in the batch.
    public func predict(batch samples: [FeatureMap], timesteps: [Double], contexts: [[Float]], contextTokens: Int) throws -> [FeatureMap] {
        guard samples.count == contexts.count, samples.count == timesteps.count else {
            throw ImageError.invalidRequest(
                "batch of \(samples.count) samples needs as many timesteps and contexts (got \(timesteps.count), \(contexts.count))")
        }
        return try samples.indices.map { try predict(samples[$0], timestep: timesteps[$0], context: contexts[$0], contextTokens: contextTokens) }
    }
}
