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
/// the rotated elements. YaRN extrapolation is not supported.
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
    /// Multiplier of the cosines and sines (`rope.scaling.attn_factor`, default 1).
    public let magnitudeScale: Float
    /// `powf(base, −2 / dimensions)`: the ratio of consecutive pairs' frequencies.
    private let thetaScale: Float

    public init(
        layout: Layout, dimensions: Int, base: Float, frequencyScale: Float = 1,
        frequencyFactors: [Float] = [], magnitudeScale: Float = 1
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
        thetaScale = powf(base, -2 / Float(dimensions))
    }

    /// Fills the cosines and sines of `position`'s angles: `cos` and `sin` are `[dimensions / 2]`.
    /// Compute them once per position and step, then `rotate` every layer's queries and keys.
    public func angles(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        var theta = Float(position)
        for i in 0..<dimensions / 2 {
            let extrapolated = frequencyFactors.isEmpty ? theta : theta / frequencyFactors[i]
            let angle = frequencyScale * extrapolated
            // As ggml's rope_yarn: cosf(θ) · mscale (exact when the scale is 1).
            cos[i] = cosf(angle) * magnitudeScale
            sin[i] = sinf(angle) * magnitudeScale
            theta *= thetaScale
        }
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
