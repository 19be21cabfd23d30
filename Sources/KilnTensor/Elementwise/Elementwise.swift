import CKilnKernels

/// Element-by-element vector operations (AVX2 bodies in CKilnKernels, scalar elsewhere). All
/// pointers address `[count]` floats; an output may be the same memory as an input.
///
/// The exponential of `exp` and `softmax` is CKilnKernels' `kiln_exp` (range reduction plus a
/// degree-7 polynomial, relative error below 2e-7; below −87.3, including −infinity, it gives 0);
/// SiLU and SwiGLU use ggml's (`kiln_exp.h`). `portableExp` is Swift's one exponential, for code
/// outside the C kernels.
public enum Elementwise {
    /// Residual connection: `output[i] = a[i] + b[i]`.
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        kiln_add(a, b, count, output)
    }

    /// SiLU in place: `x[i] = x[i] / (1 + exp(-x[i]))`.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        kiln_silu(x, count)
    }

    /// SwiGLU feed-forward gate: `output[i] = silu(gate[i]) · up[i]`.
    public static func swiglu(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        kiln_swiglu(gate, up, count, output)
    }

    /// `x[i] *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for i in 0..<count { x[i] *= factor }
    }

    /// `output[i] = exp(x[i])`.
    public static func exp(_ x: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        kiln_exp(x, count, output)
    }

    /// Softmax in place over `[count]` floats: subtracts the maximum before exponentiating, so any
    /// finite input is safe; `-infinity` entries (masked) become 0. `count` must be at least 1.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count > 0, "softmax of an empty vector")
        kiln_softmax(x, count)
    }

    /// Converts floats to IEEE half floats (round to nearest even), e.g. to store keys and values
    /// in an f16 KV cache. `destination` is `[count]` `UInt16` bit patterns.
    public static func convertToHalf(
        _ source: UnsafePointer<Float>, count: Int,
        into destination: UnsafeMutablePointer<UInt16>
    ) {
        kiln_float_to_half(source, count, destination)
    }

    /// Converts IEEE half floats (bit patterns) to floats, exactly.
    public static func convertFromHalf(
        _ source: UnsafePointer<UInt16>, count: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        kiln_half_to_float(source, count, destination)
    }
}
