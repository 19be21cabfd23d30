import KilnLayers
import KilnTensor

// The parts of PixArt-α around its transformer blocks, shared by `PixArtTransformer2DModel` and
// the hybrid `MADFormerModel`, whose diffusion layers are PixArt's: the patch embedding, the
// caption projection, adaLN-single's timestep modulation and the output layer.

/// A p×p stride-p convolution (`nn.Conv2d(C, D, p, stride=p)`: PixArt's `pos_embed.proj`) as one
/// matrix product, patches [tokens, C·p·p] × weight [D, C·p·p]ᵀ + bias.
struct PatchEmbedding: Sendable {
    /// [D, C, p, p].
    let weight: Weight
    /// [D].
    let bias: Weight
    let channels: Int
    let patchSize: Int
    let width: Int

    init(_ store: WeightStore, _ name: String, width: Int, channels: Int, patchSize: Int) throws {
        weight = try store.floats(name + ".weight", shape: [width, channels, patchSize, patchSize])
        bias = try store.floats(name + ".bias", shape: [width])
        self.channels = channels
        self.patchSize = patchSize
        self.width = width
    }

    /// Floats of the scratch `apply` needs for an image of `height` × `imageWidth` pixels.
    func scratchCount(height: Int, width imageWidth: Int) -> Int { channels * height * imageWidth }

    /// image [C, height, imageWidth] (sides multiples of p) → tokens [(height/p)·(imageWidth/p), D]
    /// in raster order, into `output`; `patches` is scratch of `scratchCount` floats.
    func apply(
        _ image: UnsafePointer<Float>, height: Int, width imageWidth: Int, into output: UnsafeMutablePointer<Float>,
        patches: UnsafeMutablePointer<Float>, context: KernelContext
    ) {
        let tokens = (height / patchSize) * (imageWidth / patchSize)
        Patches.patchify(image, into: patches, channels: channels, height: height, width: imageWidth, patchSize: patchSize)
        GEMM.multiplyTransposed(
            patches, weight.pointer, into: output, m: tokens, n: width, k: channels * patchSize * patchSize,
            columnBias: bias.pointer, context: context)
    }
}

/// PixArt's caption projection (`PixArtAlphaTextProjection`): linear, GELU-tanh, linear.
struct CaptionProjection: Sendable {
    let linear1: Linear, linear2: Linear
    /// Width of the text states it takes.
    var inFeatures: Int { linear1.inFeatures }

    init(_ store: WeightStore, _ name: String, width: Int) throws {
        linear1 = try Linear(store, name + ".linear_1", out: width)
        linear2 = try Linear(store, name + ".linear_2", in: width, out: width)
    }

    /// states [tokens, inFeatures] → [tokens, width].
    func callAsFunction(_ states: [Float], tokens: Int, workspace: Workspace) -> [Float] {
        var inner = linear1(states, rows: tokens, workspace: workspace)
        inner.withUnsafeMutableBufferPointer { Activation.geluTanhInPlace($0.baseAddress!, count: $0.count) }
        return linear2(inner, rows: tokens, workspace: workspace)
    }
}

/// adaLN-single (`AdaLayerNormSingle`): timestep → sinusoid(256) → linear, SiLU, linear → e [D];
/// SiLU(e) → linear → the modulation [6, D] every transformer block adds its own table to.
struct TimestepModulation: Sendable {
    static let projectionWidth = 256
    let linear1: Linear, linear2: Linear
    let modulation: Linear

    init(_ store: WeightStore, _ name: String, width: Int) throws {
        linear1 = try Linear(store, name + ".emb.timestep_embedder.linear_1", in: Self.projectionWidth, out: width)
        linear2 = try Linear(store, name + ".emb.timestep_embedder.linear_2", in: width, out: width)
        modulation = try Linear(store, name + ".linear", in: width, out: 6 * width)
    }

    /// (e [D], modulation [6, D]) at `timestep`.
    func callAsFunction(_ timestep: Double, workspace: Workspace) -> (embedded: [Float], modulation: [Float]) {
        let projected = UNet2DConditionModel.timestepEmbedding(
            timestep, width: Self.projectionWidth, flipSinToCos: true, frequencyShift: 0)
        var time = linear1(projected, rows: 1, workspace: workspace)
        Activation.siluInPlace(&time, count: time.count)
        let embedded = linear2(time, rows: 1, workspace: workspace)
        var activated = embedded
        Activation.siluInPlace(&activated, count: activated.count)
        return (embedded, modulation(activated, rows: 1, workspace: workspace))
    }
}

/// PixArt's output layer: LayerNorm (eps 1e-6, no affine) · (1 + scale) + shift, where
/// (shift, scale) = `scale_shift_table` [2, D] + e, then `proj_out` to p·p·C values per token and
/// the patches put back into an image.
struct PixArtOutputLayer: Sendable {
    /// [2, D].
    let table: Weight
    let projection: Linear
    let width: Int
    let patchSize: Int
    let outChannels: Int

    init(_ store: WeightStore, width: Int, patchSize: Int, outChannels: Int) throws {
        table = try store.floats("scale_shift_table", shape: [2, width])
        projection = try Linear(store, "proj_out", in: width, out: patchSize * patchSize * outChannels)
        self.width = width
        self.patchSize = patchSize
        self.outChannels = outChannels
    }

    /// hidden [tokens, D] of an image of `height` × `imageWidth` pixels and the timestep's e [D] →
    /// the image [outChannels, height, imageWidth] into `output`.
    func apply(
        _ hidden: [Float], embedded: [Float], height: Int, width imageWidth: Int, into output: UnsafeMutablePointer<Float>,
        workspace: Workspace
    ) {
        let tokens = hidden.count / width
        var shiftScale = [Float](repeating: 0, count: 2 * width)  // [2, D]
        for index in 0..<(2 * width) { shiftScale[index] = table.pointer[index] + embedded[index % width] }
        var normalized = [Float](repeating: 0, count: hidden.count)  // [tokens, D]
        hidden.withUnsafeBufferPointer { input in
            normalized.withUnsafeMutableBufferPointer { out in
                shiftScale.withUnsafeBufferPointer { terms in
                    // diffusers' norm_out is fixed at eps 1e-6, whatever norm_eps says.
                    Modulation.modulatedLayerNorm(
                        input.baseAddress!, into: out.baseAddress!, rows: tokens, width: width,
                        epsilon: 1e-6, shift: terms.baseAddress!, scale: terms.baseAddress! + width)
                }
            }
        }
        let projected = projection(normalized, rows: tokens, workspace: workspace)  // [tokens, p·p·C]
        projected.withUnsafeBufferPointer { input in
            Patches.unpatchify(
                input.baseAddress!, into: output, channels: outChannels, height: height, width: imageWidth, patchSize: patchSize)
        }
    }
}
