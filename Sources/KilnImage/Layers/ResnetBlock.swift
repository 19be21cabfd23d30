import KilnLayers
/// diffusers' `ResnetBlock2D`: GroupNorm → SiLU → conv → (+ time embedding) → GroupNorm → SiLU →
/// conv, plus the input (through a 1×1 convolution when the channel count changes).
struct ResnetBlock: Sendable {
    let norm1: GroupNorm
    let conv1: Convolution
    let timeProjection: Linear?
    let norm2: GroupNorm
    let conv2: Convolution
    let shortcut: Convolution?

    init(_ store: WeightStore, _ name: String, groups: Int, epsilon: Float, timeEmbedding: Int?) throws {
        conv1 = try Convolution(store, name + ".conv1")
        conv2 = try Convolution(store, name + ".conv2")
        norm1 = try GroupNorm(store, name + ".norm1", channels: conv1.kernel.inChannels, groups: groups, epsilon: epsilon)
        norm2 = try GroupNorm(store, name + ".norm2", channels: conv1.outChannels, groups: groups, epsilon: epsilon)
        if let timeEmbedding {
            timeProjection = try Linear(store, name + ".time_emb_proj", in: timeEmbedding, out: conv1.outChannels)
        } else {
            timeProjection = nil
        }
        shortcut = store.contains(name + ".conv_shortcut.weight") ? try Convolution(store, name + ".conv_shortcut") : nil
        if shortcut == nil && conv1.kernel.inChannels != conv2.outChannels {
            throw ImageError.invalidWeights("\(name) changes channels but has no conv_shortcut")
        }
    }

    var outChannels: Int { conv2.outChannels }

    /// `activatedTime` is SiLU(time embedding), shared by every block of the network.
    func callAsFunction(_ x: FeatureMap, activatedTime: [Float]?, workspace: Workspace) throws -> FeatureMap {
        var h = try conv1(norm1(x, silu: true, workspace: workspace), workspace: workspace)
        if let timeProjection, let activatedTime {
            let shift = timeProjection(activatedTime, rows: 1, workspace: workspace)
            for channel in 0..<h.channels {
                let base = channel * h.pixels
                for pixel in 0..<h.pixels { h.values[base + pixel] += shift[channel] }
            }
        }
        h = try conv2(norm2(h, silu: true, workspace: workspace), workspace: workspace)
        let residual = try shortcut.map { try $0(x, workspace: workspace) } ?? x
        return h + residual
    }
}
