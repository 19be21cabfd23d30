import CKilnKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Group and layer normalization (PyTorch's `GroupNorm` and `LayerNorm`), split between the
/// threads of the `KernelContext` given.
extension Normalization {
    /// Group normalization of one image in place or into `output`, PyTorch's `GroupNorm`:
    /// input [channels, pixels]; statistics per group of `channels / groups` channels, biased variance;
    /// then the per-channel affine `gamma`, `beta`. With `silu`, SiLU follows (fused: one pass fewer).
    public static func groupNorm(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        channels: Int, pixels: Int, groups: Int, epsilon: Float,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, silu: Bool = false, context: KernelContext
    ) {
        let perGroup = channels / groups
        let count = perGroup * pixels
        let parts = groups >= 2 && count * groups >= 65536 ? min(groups, 4 * context.width) : 1
        let chunk = (groups + parts - 1) / parts
        context.run(parts) { part in
            for group in (part * chunk)..<min(groups, (part + 1) * chunk) {
                let base = input + group * count
                let (mean, variance) = statistics(base, count: count)
                let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
                let meanF = Float(mean)
                for local in 0..<perGroup {
                    let channel = group * perGroup + local
                    let scale = gamma[channel] * inverse
                    let shift = beta[channel] - meanF * scale
                    let offset = group * count + local * pixels
                    kiln_affine_silu(input + offset, output + offset, pixels, scale, shift, silu ? 1 : 0)
                }
            }
        }
    }

    /// Layer normalization over the last axis: input [rows, width] → output, with `gamma`, `beta`.
    public static func layerNorm(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, epsilon: Float,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, context: KernelContext
    ) {
        let parts = rows * width >= 65536 ? min(rows, 4 * context.width) : 1
        let chunk = (rows + parts - 1) / parts
        context.run(parts) { part in
            for row in (part * chunk)..<min(rows, (part + 1) * chunk) {
                let x = input + row * width, y = output + row * width
                let (mean, variance) = statistics(x, count: width)
                let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
                let meanF = Float(mean)
                var index = 0
                while index + 8 <= width {
                    let v = (load8(x + index) - meanF) * inverse * load8(gamma + index) + load8(beta + index)
                    UnsafeMutableRawPointer(y + index).storeBytes(of: v, as: SIMD8<Float>.self)
                    index += 8
                }
                while index < width {
                    y[index] = (x[index] - meanF) * inverse * gamma[index] + beta[index]
                    index += 1
                }
            }
        }
    }

    /// Mean and biased variance of `count` floats: two passes (a mean, then centred squares), each
    /// summed in float lanes over runs of 256 elements and in Double across runs, which keeps
    /// maps of millions of elements exact to float precision.
    static func statistics(_ x: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 256)
            var lanes = SIMD8<Float>()
            var index = start
            while index + 8 <= end {
                lanes += load8(x + index)
                index += 8
            }
            var partial = Double(lanes.sum())
            while index < end {
                partial += Double(x[index])
                index += 1
            }
            total += partial
            start = end
        }
        let mean = total / Double(max(count, 1))
        let meanF = Float(mean)
        var squares = 0.0
        start = 0
        while start < count {
            let end = min(count, start + 256)
            var lanes = SIMD8<Float>()
            var index = start
            while index + 8 <= end {
                let centred = load8(x + index) - meanF
                lanes += centred * centred
                index += 8
            }
            var partial = Double(lanes.sum())
            while index < end {
                let centred = Double(x[index]) - mean
                partial += centred * centred
                index += 1
            }
            squares += partial
            start = end
        }
        return (mean, squares / Double(max(count, 1)))
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}
