#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// adaLN, the timestep modulation of diffusion transformers (DiT's adaLN-Zero, PixArt's adaLN-single):
/// a layer norm without affine parameters whose output is scaled and shifted by vectors derived from
/// the timestep, and residual additions gated by another such vector.
public enum Modulation {
    /// output[r] = LayerNorm(input[r]) · (1 + scale) + shift for each row of input [rows, width];
    /// `shift` and `scale` are [width], shared by all rows. The norm has no weight or bias.
    public static func modulatedLayerNorm(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, epsilon: Float,
        shift: UnsafePointer<Float>, scale: UnsafePointer<Float>
    ) {
        for row in 0..<rows {
            let x = input + row * width, y = output + row * width
            var sum: Float = 0
            for index in 0..<width { sum += x[index] }
            let mean = sum / Float(width)
            var squares: Float = 0
            for index in 0..<width {
                let centred = x[index] - mean
                squares += centred * centred
            }
            let inverse = 1 / (squares / Float(width) + epsilon).squareRoot()
            for index in 0..<width {
                y[index] = (x[index] - mean) * inverse * (1 + scale[index]) + shift[index]
            }
        }
    }

    /// target[r] += gate ⊙ values[r] for each row of target and values [rows, width]; `gate` is [width].
    public static func addGated(
        _ values: UnsafePointer<Float>, gate: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>,
        rows: Int, width: Int
    ) {
        for row in 0..<rows {
            let x = values + row * width, y = target + row * width
            for index in 0..<width { y[index] += gate[index] * x[index] }
        }
    }
}
