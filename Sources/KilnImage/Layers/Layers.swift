import KilnLayers
import KilnTensor

/// A 2-D convolution layer (PyTorch `nn.Conv2d`; weight [out, in, k, k], bias [out]).
struct Convolution: Sendable {
    let weight: Weight
    let bias: Weight?
    let kernel: Conv2D

    init(_ store: WeightStore, _ name: String, stride: Int = 1, padding: Int? = nil) throws {
        weight = try store.weight(name + ".weight")
        guard weight.shape.count == 4, weight.shape[2] == weight.shape[3] else {
            throw ImageError.invalidWeights("\(name).weight must be [out, in, k, k], is \(weight.shape)")
        }
        bias = store.contains(name + ".bias") ? try store.floats(name + ".bias", shape: [weight.shape[0]]) : nil
        let size = weight.shape[2]
        kernel = Conv2D(
            inChannels: weight.shape[1], outChannels: weight.shape[0], kernel: size,
            stride: stride, padding: padding ?? size / 2)
    }

    var outChannels: Int { kernel.outChannels }

    func callAsFunction(_ x: FeatureMap, workspace: Workspace) throws -> FeatureMap {
        guard x.channels == kernel.inChannels else {
            throw ImageError.invalidWeights("convolution expects \(kernel.inChannels) channels, got \(x.channels)")
        }
        let size = kernel.outputSize(height: x.height, width: x.width)
        let patches = workspace.buffer(kernel.scratchCount(height: x.height, width: x.width, context: workspace.kernels))
        return x.values.withUnsafeBufferPointer { input in
            FeatureMap(channels: kernel.outChannels, height: size.height, width: size.width) { out in
                kernel.apply(
                    input: input.baseAddress!, height: x.height, width: x.width, weight: weight.matrix,
                    bias: bias?.pointer, output: out, scratch: patches, context: workspace.kernels)
            }
        }
    }
}

/// Group normalization with its affine parameters (`nn.GroupNorm`), optionally fused with SiLU.
struct GroupNorm: Sendable {
    let gamma: Weight
    let beta: Weight
    let groups: Int
    let epsilon: Float

    init(_ store: WeightStore, _ name: String, channels: Int, groups: Int, epsilon: Float) throws {
        guard groups > 0, channels % groups == 0 else {
            throw ImageError.invalidConfig("\(channels) channels cannot form \(groups) groups (\(name))")
        }
        gamma = try store.floats(name + ".weight", shape: [channels])
        beta = try store.floats(name + ".bias", shape: [channels])
        self.groups = groups
        self.epsilon = epsilon
    }

    func callAsFunction(_ x: FeatureMap, silu: Bool = false, workspace: Workspace) -> FeatureMap {
        precondition(x.channels == gamma.count, "group norm channel mismatch")
        var output = x
        x.values.withUnsafeBufferPointer { input in
            output.values.withUnsafeMutableBufferPointer { out in
                Normalization.groupNorm(
                    input.baseAddress!, into: out.baseAddress!, channels: x.channels,
                    pixels: x.pixels, groups: groups, epsilon: epsilon,
                    gamma: gamma.pointer, beta: beta.pointer, silu: silu, context: workspace.kernels)
            }
        }
        return output
    }
}
