import Foundation
import KilnLayers
import KilnTensor

/// The generator of kiln-shapes-gan (`Scripts/gan/gan_model.py`, `Generator`): a latent z and a
/// caption's conditioning vector c in, an RGB image in [-1, 1] out.
///
///     cat(z, c) → Linear → ReLU → [C0, 4, 4]
///     per block: nearest ×2, 3×3 convolution, GroupNorm whose affine parameters come from the
///                caption (scale 1 + γ(c), shift β(c)), ReLU
///     3×3 convolution to RGB, tanh
///
/// Group normalization works on one image at a time, so an image in a batch is what it is alone.
public final class ShapesGenerator: @unchecked Sendable {
    struct Block: Sendable {
        let convolution: Convolution
        let scale: Linear
        let shift: Linear
    }

    public let latentSize: Int
    public let conditionSize: Int
    /// The side of the square image it draws (4 · 2^blocks).
    public let imageSize: Int
    let input: Linear
    let inputChannels: Int
    let blocks: [Block]
    let output: Convolution
    let groups: Int
    let epsilon: Float
    public let kernels: KernelContext

    /// Loads `directory/config.json` (`latent`, `condition`, `channels`, `groups`, `group_norm_eps`)
    /// and `directory/model.safetensors`.
    public init(directory: String, kernels: KernelContext) throws {
        self.kernels = kernels
        let config = try ComponentConfig(path: directory + "/config.json")
        let latentSize = try config.int("latent", range: 1...4096)
        let conditionSize = try config.int("condition", range: 1...4096)
        self.latentSize = latentSize
        self.conditionSize = conditionSize
        let channels = try config.ints("channels")
        guard channels.count >= 2, channels.count <= 8, channels.allSatisfy({ (1...4096).contains($0) }) else {
            throw ImageError.invalidConfig("\(config.path): channels must hold 2 to 8 widths in 1...4096, is \(channels)")
        }
        let groups = try config.int("groups", range: 1...4096)
        self.groups = groups
        guard channels.dropFirst().allSatisfy({ $0 % groups == 0 }) else {
            throw ImageError.invalidConfig("\(config.path): widths \(channels.dropFirst()) must be multiples of groups \(groups)")
        }
        epsilon = Float(try config.double("group_norm_eps", default: 1e-5))
        let store = try WeightStore(path: directory + "/model.safetensors")
        inputChannels = channels[0]
        input = try Linear(store, "input", in: latentSize + conditionSize, out: channels[0] * 16)
        blocks = try (1..<channels.count).map { index in
            let name = "blocks.\(index - 1)"
            let convolution = try Convolution(store, name + ".conv")
            guard convolution.outChannels == channels[index], convolution.kernel.inChannels == channels[index - 1] else {
                throw ImageError.invalidWeights("\(name).conv must map \(channels[index - 1]) to \(channels[index]) channels")
            }
            return Block(
                convolution: convolution,
                scale: try Linear(store, name + ".scale", in: conditionSize, out: channels[index]),
                shift: try Linear(store, name + ".shift", in: conditionSize, out: channels[index]))
        }
        output = try Convolution(store, "output")
        guard output.outChannels == 3, output.kernel.inChannels == channels[channels.count - 1] else {
            throw ImageError.invalidWeights("output must map \(channels[channels.count - 1]) channels to RGB")
        }
        imageSize = 4 << blocks.count
    }

    /// Images [3, imageSize, imageSize] in [-1, 1] (tanh), one per row of `latents` [n, latentSize]
    /// and `conditions` [n, conditionSize].
    public func generate(latents: [Float], conditions: [Float], count: Int) throws -> [FeatureMap] {
        guard count > 0, latents.count == count * latentSize, conditions.count == count * conditionSize else {
            throw ImageError.invalidRequest(
                "the generator takes \(count) latents of \(latentSize) and conditions of \(conditionSize) values")
        }
        let workspace = Workspace(kernels: kernels)
        var joined = [Float](repeating: 0, count: count * (latentSize + conditionSize))
        for row in 0..<count {
            let base = row * (latentSize + conditionSize)
            for index in 0..<latentSize { joined[base + index] = latents[row * latentSize + index] }
            for index in 0..<conditionSize { joined[base + latentSize + index] = conditions[row * conditionSize + index] }
        }
        var start = input(joined, rows: count, workspace: workspace)
        Self.relu(&start)
        let planeCount = inputChannels * 16
        var maps = (0..<count).map { row in
            FeatureMap(values: Array(start[row * planeCount..<(row + 1) * planeCount]), channels: inputChannels, height: 4, width: 4)
        }
        for block in blocks {
            // Every image's scale and shift in one product each: [n, channels].
            var gammas = block.scale(conditions, rows: count, workspace: workspace)
            for index in gammas.indices { gammas[index] += 1 }
            let betas = block.shift(conditions, rows: count, workspace: workspace)
            let width = block.convolution.outChannels
            for row in 0..<count {
                let convolved = try block.convolution(maps[row].upsampledNearest2x(), workspace: workspace)
                maps[row] = modulatedNorm(
                    convolved, gamma: gammas[row * width..<(row + 1) * width], beta: betas[row * width..<(row + 1) * width])
            }
        }
        return try maps.map { map in
            var image = try output(map, workspace: workspace)
            for index in image.values.indices { image.values[index] = tanhf(image.values[index]) }
            return image
        }
    }

    /// Group norm with this image's caption-dependent affine parameters, then ReLU.
    private func modulatedNorm(_ x: FeatureMap, gamma: ArraySlice<Float>, beta: ArraySlice<Float>) -> FeatureMap {
        var result = x
        x.values.withUnsafeBufferPointer { input in
            result.values.withUnsafeMutableBufferPointer { out in
                gamma.withUnsafeBufferPointer { gammaValues in
                    beta.withUnsafeBufferPointer { betaValues in
                        Normalization.groupNorm(
                            input.baseAddress!, into: out.baseAddress!, channels: x.channels, pixels: x.pixels,
                            groups: groups, epsilon: epsilon, gamma: gammaValues.baseAddress!, beta: betaValues.baseAddress!,
                            context: kernels)
                    }
                }
            }
        }
        Self.relu(&result.values)
        return result
    }

    private static func relu(_ values: inout [Float]) {
        for index in values.indices where values[index] < 0 { values[index] = 0 }
    }
}
