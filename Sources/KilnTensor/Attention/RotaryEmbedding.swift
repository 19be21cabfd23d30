import CKilnKernels
import Foundation

/// Rotary position embedding (RoPE), as llama.cpp applies it.
///
/// Pair `i` (`0 ≤ i < dimensions / 2`) of each head is rotated by the angle
/// `θ_i = position · frequencyScale · base^(−2i / dimensions) / frequencyFactor_i`.
/// `.normal` pairs elements `(2i, 2i+1)` (llama.cpp `LLAMA_ROPE_TYPE_NORM`: Llama, Mistral);
/// `.neox` pairs `(i, i + dimensions/2)` (`NEOX`: Qwen2, Phi-3). Head elements at
/// `dimensions ..< headDimension` pass through unchanged. The cosines and sines are multiplied by
/// `magnitudeScale` (llama.cpp's `attn_factor`: LongRoPE's attention factor, else 1), which scales
/// the rotated elements. With YaRN (`extrapolationMix`, llama.cpp's `rope_yarn`), pair `i`'s angle is
/// `θ_interp · (1 − mix_i) + θ_extrap · mix_i`, where `θ_interp` is the scaled angle above and `θ_extrap`
/// the unscaled one: high-frequency pairs keep their angle, low-frequency ones are interpolated.
///
/// Angles are rounded the way ggml rounds them, so that the rotated vectors (and, through the
/// 8-bit activation roundings downstream, the logits) match llama.cpp's bit for bit: `θ` starts at
/// the position and is multiplied in `Float` by `powf(base, −2/dimensions)` from pair to pair, and
/// the cosines and sines are libm's `cosf`/`sinf` of that `Float`. (Angles computed in `Double`
/// differ by up to ~1e-5 rad at long positions.)
public struct RotaryEmbedding: Sendable {
    /// How the rotated elements of a head are paired.
    public enum Layout: Sendable { case normal, neox }

    public let layout: Layout
    /// Rotated elements per head (`rope.dimension_count`), even.
    public let dimensions: Int
    /// `rope.freq_base`, e.g. 10000 or 100000.
    public let base: Float
    /// Linear position scaling (`1 / rope.scaling.factor` for linear scaling, else 1).
    public let frequencyScale: Float
    /// Per-pair divisors of the frequency (Llama 3.1's `rope_freqs`, Phi-3's LongRoPE factors),
    /// `[dimensions / 2]`, or empty.
    public let frequencyFactors: [Float]
    /// Multiplier of the cosines and sines (`rope.scaling.attn_factor`, default 1; with YaRN its
    /// magnitude correction too, ``yarnMagnitudeScale(frequencyScale:attentionFactor:)``).
    public let magnitudeScale: Float
    /// YaRN's per-pair share of the unscaled angle (`[dimensions / 2]`, in 0…1), or empty: no YaRN.
    public let extrapolationMix: [Float]
    /// `powf(base, −2 / dimensions)`: the ratio of consecutive pairs' frequencies.
    private let thetaScale: Float

    public init(
        layout: Layout, dimensions: Int, base: Float, frequencyScale: Float = 1,
        frequencyFactors: [Float] = [], magnitudeScale: Float = 1, extrapolationMix: [Float] = []
    ) {
        precondition(dimensions > 0 && dimensions % 2 == 0, "RoPE dimensions must be positive and even")
        precondition(
            frequencyFactors.isEmpty || frequencyFactors.count == dimensions / 2,
            "RoPE frequency factors must have dimensions / 2 entries")
        self.layout = layout
        self.dimensions = dimensions
        self.base = base
        self.frequencyScale = frequencyScale
        self.frequencyFactors = frequencyFactors
        self.magnitudeScale = magnitudeScale
        precondition(
            extrapolationMix.isEmpty || extrapolationMix.count == dimensions / 2, "YaRN's mix must have dimensions / 2 entries")
        self.extrapolationMix = extrapolationMix
        thetaScale = powf(base, -2 / Float(dimensions))
    }

    /// Fills the cosines and sines of `position`'s angles: `cos` and `sin` are `[dimensions / 2]`.
    /// Compute them once per position and step, then `rotate` every layer's queries and keys.
    public func angles(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        var theta = Float(position)
        for i in 0..<dimensions / 2 {
            let extrapolated = frequencyFactors.isEmpty ? theta : theta / frequencyFactors[i]
            var angle = frequencyScale * extrapolated
            if !extrapolationMix.isEmpty {
                let mix = extrapolationMix[i]
                angle = angle * (1 - mix) + extrapolated * mix
            }
            // As ggml's rope_yarn: cosf(θ) · mscale (exact when the scale is 1).
            cos[i] = cosf(angle) * magnitudeScale
            sin[i] = sinf(angle) * magnitudeScale
            theta *= thetaScale
        }
    }

    /// YaRN's per-pair mix for `extrapolationMix`, as ggml computes it (`ggml_rope_yarn_corr_dims`,
    /// `rope_yarn_ramp`): pairs below the correction range keep their unscaled angle (mix 1), pairs
    /// above it are fully interpolated (0), with a linear ramp between; times `extrapolationFactor`
    /// (llama.cpp's `yarn_ext_factor`, 1 for YaRN).
    public static func yarnMix(
        dimensions: Int, base: Float, originalContextLength: Int, betaFast: Float = 32, betaSlow: Float = 1,
        extrapolationFactor: Float = 1
    ) -> [Float] {
        func correctionDimension(_ rotations: Float) -> Float {
            Float(dimensions) * logf(Float(originalContextLength) / (rotations * 2 * Float.pi)) / (2 * logf(base))
        }
        let low = max(0, floorf(correctionDimension(betaFast)))
        let high = min(Float(dimensions - 1), ceilf(correctionDimension(betaSlow)))
        return (0..<dimensions / 2).map { pair in
            let y = (Float(pair) - low) / max(0.001, high - low)
            return (1 - min(1, max(0, y))) * extrapolationFactor
        }
    }

    /// The cosines' multiplier under YaRN, as llama.cpp composes it: its context's attention factor
    /// (`get_mscale(factor)`, then divided by `1 + 0.1 ln factor`, times `attentionFactor`), times the
    /// kernel's own `1 + 0.1 ln(1 / frequencyScale)`, in `Float` in that order.
    public static func yarnMagnitudeScale(frequencyScale: Float, attentionFactor: Float) -> Float {
        let factor = 1 / frequencyScale
        var context: Float = factor <= 1 ? 1 : 0.1 * 1 * logf(factor) + 1
        context *= 1 / (1 + 0.1 * logf(factor))
        context *= attentionFactor
        return context * (1 + 0.1 * logf(1 / frequencyScale))
    }

    /// Rotates `heads` heads in place with precomputed `angles`.
    ///
    /// - Parameters:
    ///   - x: `[heads × headDimension]` floats (one position's queries or keys).
    ///   - cos, sin: `[dimensions / 2]` from `angles(position:cos:sin:)`.
    public func rotate(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        precondition(dimensions <= headDimension, "RoPE dimensions exceed the head dimension")
        kiln_rope(x, Int32(heads), Int32(headDimension), Int32(dimensions), cos, sin, layout == .neox ? 1 : 0)
    }

    /// Rotates `heads` heads at `position` in place (computes the angles, then `rotate`).
    ///
    /// - Parameter x: `[heads × headDimension]` floats.
    public func apply(to x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, position: Int) {
        let half = dimensions / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { buffer in
            let cos = buffer.baseAddress!, sin = cos + half
            angles(position: position, cos: cos, sin: sin)
            rotate(x, heads: heads, headDimension: headDimension, cos: cos, sin: sin)
        }
    }
}
