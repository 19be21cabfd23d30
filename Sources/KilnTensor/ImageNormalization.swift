#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Group and layer normalization as the diffusion models use them.
public enum ImageNormalization {
    /// Group normalization of one image in place or into `output`, PyTorch's `GroupNorm`:
    /// input [channels, pixels]; statistics per group of `channels / groups` channels, biased variance;
    /// then the per-channel affine `gamma`, `beta`. With `silu`, SiLU follows (fused: one pass fewer).
    public static func groupNorm(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        channels: Int, pixels: Int, groups: Int, epsilon: Float,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, silu: Bool = false
    ) {
        let perGroup = channels / groups
        let count = perGroup * pixels
        ImageParallel.run(groups >= 8 && count * groups >= 65536 ? min(groups, ImageParallel.width) : 1) { part in
            let parts = groups >= 8 && count * groups >= 65536 ? min(groups, ImageParallel.width) : 1
            let chunk = (groups + parts - 1) / parts
            for group in (part * chunk)..<min(groups, (part + 1) * chunk) {
                let base = group * count
                // Two passes in Double: a mean, then the centred sum of squares (stable for large maps).
                var sum = 0.0
                for index in 0..<count { sum += Double(input[base + index]) }
                let mean = sum / Double(count)
                var squares = 0.0
                for index in 0..<count {
                    let centred = Double(input[base + index]) - mean
                    squares += centred * centred
                }
                let inverse = Float(1 / (squares / Double(count) + Double(epsilon)).squareRoot())
                let meanF = Float(mean)
                for local in 0..<perGroup {
                    let channel = group * perGroup + local
                    let scale = gamma[channel] * inverse
                    let shift = beta[channel] - meanF * scale
                    let row = base + local * pixels
                    for pixel in 0..<pixels {
                        let value = input[row + pixel] * scale + shift
                        output[row + pixel] = silu ? ImageActivation.silu(value) : value
                    }
                }
            }
        }
    }

    /// Layer normalization over the last axis: input [rows, width] → output, with `gamma`, `beta`.
    public static func layerNorm(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, epsilon: Float,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>
    ) {
        for row in 0..<rows {
            let x = input + row * width, y = output + row * width
            var sum = 0.0
            for index in 0..<width { sum += Double(x[index]) }
            let mean = sum / Double(width)
            var squares = 0.0
            for index in 0..<width {
                let centred = Double(x[index]) - mean
                squares += centred * centred
            }
            let inverse = Float(1 / (squares / Double(width) + Double(epsilon)).squareRoot())
            let meanF = Float(mean)
            for index in 0..<width { y[index] = (x[index] - meanF) * inverse * gamma[index] + beta[index] }
        }
    }
}
