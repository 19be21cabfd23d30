#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// GELU with the tanh approximation as ggml's CPU backend computes it for float activations: the
/// input rounded to a half and looked up in a table of 65 536 halves (`ggml_table_gelu_f16`),
/// inputs at or below −10 giving 0 and at or above 10 passing through. Gemma's GeGLU uses it so
/// that the feed-forward rounds as llama.cpp's does; the table costs 128 KB, built on first use.
public enum TabulatedGELU {
    /// ggml's `ggml_gelu_f32`, with the fused multiply-add that GCC's `-march=native` build makes
    /// of `1 + 0.044715·x·x` (checked against such a build: all 65 536 table entries equal).
    @inline(__always) public static func ggmlGELU(_ x: Float) -> Float {
        let inner = Float(1).addingProduct(0.044715 * x, x)
        return 0.5 * x * (1 + tanhf(0.79788456080286535587989211986876 * x * inner))
    }

    /// `table[h]` = GELU of the half with bit pattern h, rounded to a half.
    static let table: [UInt16] = (0..<65_536).map { bits in
        Float16(ggmlGELU(Float(Float16(bitPattern: UInt16(bits))))).bitPattern
    }

    /// GELU of one value through the table (`ggml_vec_gelu_f32` with `GGML_GELU_FP16`).
    @inline(__always)
    static func gelu(_ x: Float, table: UnsafePointer<UInt16>) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return Float(Float16(bitPattern: table[Int(Float16(x).bitPattern)]))
    }

    /// GeGLU: `output[i] = GELU(gate[i]) · up[i]` (`ggml_vec_geglu_f32`); output may be `gate`.
    public static func geglu(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        table.withUnsafeBufferPointer { table in
            let lookup = table.baseAddress!
            for index in 0..<count {
                output[index] = gelu(gate[index], table: lookup) * up[index]
            }
        }
    }
}
