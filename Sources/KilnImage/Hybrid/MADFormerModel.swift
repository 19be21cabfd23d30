import Foundation
import KilnLayers
import KilnTensor

/// The transformer of kiln-shapes-madformer (`MADFormer` in `Scripts/madformer/madformer_model.py`),
/// an autoregressive–diffusion hybrid after MADFormer: the image is cut into bands of `blockRows`
/// pixel rows, generated top to bottom, each a few diffusion steps conditioned on what the
/// autoregressive layers made of the caption and the bands above it.
///
///     caption c = caption_projection(CLIP states)                                 [T, D]
///     slot k = (k = 0: start_tokens; else ar_patch_embed(clean band k−1)) + pos(k)  [tokens, D]
///     z_k = ar_norm(AR layers over slot k, against the KV cache of c and slots < k)  [tokens, D]
///     v = PixArt(patch_embed(noisy band k) + pos(k) + z_k; context [c; z_k]; t)    [3, blockRows, S]
///
/// pos(k) is PixArt's 2-D sin-cos table of the whole patch grid, band k's rows. Weights are
/// read-only after load; the state of a generation lives in its `MADFormerStream`s.
public final class MADFormerModel: @unchecked Sendable {
    /// Transformer width D.
    public let width: Int
    public let heads: Int
    public let patchSize: Int
    /// The image side in pixels (square RGB images).
    public let sampleSize: Int
    /// Pixel rows per band.
    public let blockRows: Int
    /// Width of the text encoder's states the caption projection takes.
    public let captionChannels: Int
    /// Bands per image.
    public var blockCount: Int { sampleSize / blockRows }
    /// Patch tokens per band.
    public var tokensPerBlock: Int { (blockRows / patchSize) * (sampleSize / patchSize) }
    public var arLayerCount: Int { arLayers.count }
    public var diffusionLayerCount: Int { diffusionBlocks.count }

    let captionProjection: CaptionProjection
    /// [tokensPerBlock, D]: slot 0's content.
    let startTokens: Weight
    let arPatchEmbedding: PatchEmbedding
    let arLayers: [ARLayer]
    let arNorm: LayerNorm
    let patchEmbedding: PatchEmbedding
    let timestepModulation: TimestepModulation
    let diffusionBlocks: [DiTBlock]
    let outputLayer: PixArtOutputLayer
    /// [blockCount · tokensPerBlock, D]: the grid's sin-cos positions, band after band.
    let positions: [Float]
    public let kernels: KernelContext

    /// Loads `directory/config.json` (width, heads, ar_layers, diffusion_layers, patch_size,
    /// sample_size, block_rows, caption_channels, norm_eps) and `directory/model.safetensors`.
    /// A config the weights do not match is an `ImageError.invalidConfig` or `.invalidWeights`.
    public init(directory: String, kernels: KernelContext) throws {
        self.kernels = kernels
        let config = try ImageError.typed { try ComponentConfig(path: directory + "/config.json") }
        let path = config.path
        let className = try ImageError.typed { try config.string("_class_name", default: "KilnShapesMADFormer") }
        guard className == "KilnShapesMADFormer" else {
            throw ImageError.invalidConfig("\(path): \(className) is not a KilnShapesMADFormer")
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int { try ImageError.typed { try config.int(key, range: range) } }
        let width = try int("width", 4...8192), heads = try int("heads", 1...256)
        let patchSize = try int("patch_size", 1...64), sampleSize = try int("sample_size", 1...4096)
        let blockRows = try int("block_rows", 1...4096), captionChannels = try int("caption_channels", 1...65536)
        let arCount = try int("ar_layers", 1...256), diffusionCount = try int("diffusion_layers", 1...256)
        let epsilon = Float(try ImageError.typed { try config.double("norm_eps", default: 1e-6) })
        guard width % heads == 0, width % 4 == 0 else {
            throw ImageError.invalidConfig("\(path): width \(width) must split into \(heads) heads and be a multiple of 4")
        }
        guard sampleSize % blockRows == 0, blockRows % patchSize == 0 else {
            throw ImageError.invalidConfig(
                "\(path): sample_size \(sampleSize) must be a multiple of block_rows \(blockRows), and that of patch_size \(patchSize)")
        }
        guard epsilon > 0 else { throw ImageError.invalidConfig("\(path): norm_eps must be positive") }
        (self.width, self.heads, self.patchSize, self.sampleSize) = (width, heads, patchSize, sampleSize)
        (self.blockRows, self.captionChannels) = (blockRows, captionChannels)

        let store = try ImageError.typed { try WeightStore(path: directory + "/model.safetensors") }
        for (name, count) in [
            ("ar_layers.\(arCount).norm1.weight", arCount), ("transformer_blocks.\(diffusionCount).scale_shift_table", diffusionCount),
        ]
        where store.contains(name) {
            throw ImageError.invalidWeights("the weights hold more layers than the config's \(count) (\(name))")
        }
        let tokens = (blockRows / patchSize) * (sampleSize / patchSize)
        (captionProjection, startTokens, arPatchEmbedding, arLayers, arNorm) = try ImageError.typed {
            let projection = try CaptionProjection(store, "caption_projection", width: width)
            guard projection.inFeatures == captionChannels else {
                throw ImageError.invalidWeights("caption_projection takes \(projection.inFeatures) channels; caption_channels is \(captionChannels)")
            }
            return (
                projection, try store.floats("start_tokens", shape: [tokens, width]),
                try PatchEmbedding(store, "ar_patch_embed", width: width, channels: 3, patchSize: patchSize),
                try (0..<arCount).map { try ARLayer(store, "ar_layers.\($0)", width: width, heads: heads, epsilon: epsilon) },
                try LayerNorm(store, "ar_norm", width: width, epsilon: epsilon)
            )
        }
        (patchEmbedding, timestepModulation, diffusionBlocks, outputLayer) = try ImageError.typed {
            (
                try PatchEmbedding(store, "patch_embed", width: width, channels: 3, patchSize: patchSize),
                try TimestepModulation(store, "adaln_single", width: width),
                try (0..<diffusionCount).map {
                    try DiTBlock(store, "transformer_blocks.\($0)", width: width, contextWidth: width, heads: heads, epsilon: epsilon)
                },
                try PixArtOutputLayer(store, width: width, patchSize: patchSize, outChannels: 3)
            )
        }
        let grid = sampleSize / patchSize
        positions = Patches.sinCosPositions(rows: grid, columns: grid, width: width, baseSize: Double(grid), interpolationScale: 1)
    }

    /// The projected caption c [T, D] of text encoder states [T, captionChannels].
    func projectCaption(_ states: [Float], tokens: Int, workspace: Workspace) -> [Float] {
        captionProjection(states, tokens: tokens, workspace: workspace)
    }

    /// Band `block`'s conditioning z into `stream.context`'s last `tokensPerBlock` rows, running
    /// its slot through the autoregressive layers against the stream's cache. `previous` is the
    /// clean band above it [3, blockRows, S] (ignored for band 0, whose first call also runs the
    /// caption, the context's first rows, into the cache).
    func condition(block: Int, previous: UnsafePointer<Float>, stream: MADFormerStream, workspace: Workspace) {
        let tokens = tokensPerBlock, captionTokens = stream.captionTokens
        let prefix = block == 0 ? captionTokens : 0
        let hidden = stream.hidden  // [prefix + tokens, D]
        let slot = hidden + prefix * width
        if block == 0 {
            hidden.update(from: stream.context, count: captionTokens * width)
            slot.update(from: startTokens.pointer, count: tokens * width)
        } else {
            let patches = workspace.buffer(arPatchEmbedding.scratchCount(height: blockRows, width: sampleSize))
            arPatchEmbedding.apply(previous, height: blockRows, width: sampleSize, into: slot, patches: patches, context: kernels)
        }
        positions.withUnsafeBufferPointer { table in
            let rows = table.baseAddress! + block * tokens * width
            for index in 0..<(tokens * width) { slot[index] += rows[index] }
        }
        let cache = stream.cache
        for (index, layer) in arLayers.enumerated() {
            layer(
                hidden, tokens: prefix + tokens, prefix: prefix, keys: cache.keys(layer: index), values: cache.values(layer: index),
                cached: cache.count, scratch: stream.scratch, context: kernels)
        }
        cache.count += prefix + tokens
        stream.context.withUnsafeMutableBufferPointer { context in
            arNorm.apply(slot, rows: tokens, into: context.baseAddress! + captionTokens * width, context: kernels)
        }
    }

    /// v [3, blockRows, S] into `output` for the noisy band `noisy` [3, blockRows, S] at `timestep`,
    /// given the step's adaLN-single terms (`timestepModulation`) and the stream's context [c; z].
    func denoise(
        _ noisy: UnsafePointer<Float>, block: Int, time: (embedded: [Float], modulation: [Float]), stream: MADFormerStream,
        into output: UnsafeMutablePointer<Float>, workspace: Workspace
    ) {
        let tokens = tokensPerBlock, contextTokens = stream.captionTokens + tokens
        var hidden = [Float](repeating: 0, count: tokens * width)  // [tokens, D]
        let patches = workspace.buffer(patchEmbedding.scratchCount(height: blockRows, width: sampleSize))
        let context = stream.context  // [T + tokens, D]: c, then z
        hidden.withUnsafeMutableBufferPointer { out in
            patchEmbedding.apply(noisy, height: blockRows, width: sampleSize, into: out.baseAddress!, patches: patches, context: kernels)
            positions.withUnsafeBufferPointer { table in
                context.withUnsafeBufferPointer { terms in
                    let rows = table.baseAddress! + block * tokens * width, z = terms.baseAddress! + stream.captionTokens * width
                    for index in 0..<(tokens * width) { out[index] = out[index] + rows[index] + z[index] }
                }
            }
        }
        for layer in diffusionBlocks {
            layer(&hidden, tokens: tokens, modulation: time.modulation, caption: context, captionTokens: contextTokens, workspace: workspace)
        }
        outputLayer.apply(hidden, embedded: time.embedded, height: blockRows, width: sampleSize, into: output, workspace: workspace)
    }
}
