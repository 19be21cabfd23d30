import CKilnKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Pointwise activations of the float models (UNet, DiT, CLIP), with libm's `expf`, `erff` and
/// `tanhf` where the scalar forms need them. (The language models' SiLU and SwiGLU are
/// `Elementwise.silu`/`swiglu`, whose exponential is ggml's so that they round as llama.cpp does.)
public enum Activation {
    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// GELU with the exact error function (PyTorch's default `approximate="none"`).
    @inline(__always) public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678118654752)) }

    /// CLIP's "quick GELU": x · σ(1.702 x).
    @inline(__always) public static func quickGELU(_ x: Float) -> Float { x / (1 + expf(-1.702 * x)) }

    public static func siluInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count { values[index] = silu(values[index]) }
    }

    /// `gelu` over `count` values (`kiln_gelu`: eight lanes at a time where AVX2 is, with an erf
    /// within 1.5e-7 of exact).
    public static func geluInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        kiln_gelu(values, count)
    }

    public static func quickGELUInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count { values[index] = quickGELU(values[index]) }
    }

    /// GEGLU: input [rows, 2·width] holds the value half then the gate half of each row;
    /// output [rows, width] = value · GELU(gate).
    public static func geglu(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int, context: KernelContext
    ) {
        let parts = rows * width >= 65536 ? min(rows, 4 * context.width) : 1
        let chunk = (rows + parts - 1) / parts
        context.run(parts) { part in
            let first = part * chunk, count = min(rows, first + chunk) - first
            if count > 0 { kiln_geglu(input + first * 2 * width, output + first * width, Int32(count), Int32(width)) }
        }
    }

    /// GELU with PyTorch's tanh approximation (`approximate="tanh"`, diffusers' "gelu-approximate"):
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inline(__always) public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    /// `geluTanh` over `count` values through 0.5·(1 + tanh u) = σ(2u), i.e. x / (1 + e^(−2u)),
    /// with the C kernels' exponential (`kiln_gelu_tanh`: eight lanes at a time where AVX2 is).
    public static func geluTanhInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        kiln_gelu_tanh(values, count)
    }
}
