extension Elementwise {
    /// eˣ in single precision from IEEE-754 basic operations only and free of branches: the same
    /// bits on every machine (platform `expf` implementations differ in the last place, which could
    /// flip a seeded sample that lands on a boundary), and loops over it vectorize. Kiln's one
    /// exponential in Swift (the sampler's weights, `portableUnitExponential`, use it); the C
    /// kernels have theirs in `kiln_exp.h`.
    ///
    /// Method: x = k·ln 2 + r with |r| ≤ ln 2 / 2 (k rounded by adding and removing 1.5·2²³, which
    /// needs no `rint` instruction and leaves k in the low mantissa bits, from which 2ᵏ is built
    /// without a trapping conversion; ln 2 split in a high part with trailing zero bits and a low
    /// correction), eʳ by its Taylor series to degree 7 (|r| ≤ 0.347: truncation below 6·10⁻⁹),
    /// times 2ᵏ. Relative error below 2·10⁻⁷. Inputs below −87.3 (results under the smallest normal
    /// float), −∞ and NaN give 0; inputs above 88.7 are clamped to it and give +∞.
    @inlinable @inline(__always)
    public static func portableExp(_ x: Float) -> Float {
        let clamped = min(max(x, -87.3), 88.7)
        let shifted = clamped * 1.442_695_04 + 12_582_912
        let k = shifted - 12_582_912
        let r = (clamped - k * 0.693_145_751_953_125) - k * 1.428_606_820_286_226_8e-06
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let kBits = shifted.bitPattern &- 0x4B40_0000
        let scale = Float(bitPattern: (kBits &+ 127) << 23)
        return x < -87.3 || x.isNaN ? 0 : p * scale
    }
}
