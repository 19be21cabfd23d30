import CKilnKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pointwise activations of the diffusion models.
public enum ImageActivation {
    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// GELU with the exact error function (PyTorch's default `approximate="none"`).
    @inline(__always) public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678118654752)) }

    /// CLIP's "quick GELU": x · σ(1.702 x).
    @inline(__always) public static func quickGELU(_ x: Float) -> Float { x / (1 + expf(-1.702 * x)) }

    public static func siluInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count { values[index] = silu(values[index]) }
    }

    public static func geluInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count { values[index] = gelu(values[index]) }
    }

    public static func quickGELUInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count { values[index] = quickGELU(values[index]) }
    }

    /// GEGLU: input [rows, 2·width] holds the value half then the gate half of each row;
    /// output [rows, width] = value · GELU(gate).
    public static func geglu(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let parts = rows * width >= 65536 ? min(rows, 4 * ImageParallel.width) : 1
        let chunk = (rows + parts - 1) / parts
        ImageParallel.run(parts) { part in
            let first = part * chunk, count = min(rows, first + chunk) - first
            if count > 0 { kiln_geglu(input + first * 2 * width, output + first * width, Int32(count), Int32(width)) }
        }
    }
}
