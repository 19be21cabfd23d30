/// Vectorized elementary functions for the image kernels.
public enum ImageMath {
    /// eˣ for eight lanes: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts for exactness),
    /// e^r by a degree-6 Taylor polynomial (relative error under 2e-7 on that interval), times 2ⁿ
    /// built in the exponent bits. Inputs are clamped to [−87.3, 88.7], the float range.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.3), high = SIMD8<Float>(repeating: 88.7)
        let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // Adding 1.5·2²³ rounds x·log₂e to an integer held in the low mantissa bits (no conversions,
        // which Swift's generic SIMD code does lane by lane).
        let shifted = clamped * 1.44269504088896341 + 12_582_912
        let n = shifted - 12_582_912
        let r = clamped - n * 0.693359375 + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }
}
