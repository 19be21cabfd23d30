import Foundation

/// The noise behind a seed: the same seed gives the same latents, and so the same image, on every
/// machine and in every batch.
///
/// Definition (stable; changing it changes every seeded image):
/// - State: xoshiro256** (Blackman & Vigna, 2018), its four 64-bit words filled by four successive
///   outputs of SplitMix64 started at `seed`.
/// - Normals: Box–Muller on pairs of draws. With u₁ = ((x₁ >> 11) + 1) · 2⁻⁵³ ∈ (0, 1] and
///   u₂ = (x₂ >> 11) · 2⁻⁵³ ∈ [0, 1), the pair is r·cos(2πu₂), r·sin(2πu₂) with r = √(−2 ln u₁),
///   computed in Double and rounded to Float, consumed in that order.
/// - Latents are filled in row-major (channel, y, x) order, the initial noise first; Euler ancestral
///   then draws one latents-sized block per step from the same stream.
public struct SeededNoise: Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)
    private var spare: Float?

    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func nextBits() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    /// The next standard normal sample.
    public mutating func nextGaussian() -> Float {
        if let value = spare {
            spare = nil
            return value
        }
        let u1 = Double((nextBits() >> 11) + 1) * 0x1p-53
        let u2 = Double(nextBits() >> 11) * 0x1p-53
        let radius = (-2 * log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spare = Float(radius * sin(angle))
        return Float(radius * cos(angle))
    }

    /// `count` standard normal samples.
    public mutating func gaussians(count: Int) -> [Float] {
        (0..<count).map { _ in nextGaussian() }
    }

    @inline(__always) private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
