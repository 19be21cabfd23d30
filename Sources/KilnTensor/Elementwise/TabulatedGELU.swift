import CKilnKernels

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
    /// Chunks of `chunk` values go to halves and back with the vector conversions (Swift's `Float16`
    /// conversions are library calls here), the table lookup between them; each value is the one
    /// `gelu(_:table:)` gives.
    public static func geglu(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        table.withUnsafeBufferPointer { table in
            let lookup = table.baseAddress!
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: chunk) { halves in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { values in
                    var start = 0
                    while start < count {
                        let n = min(chunk, count - start)
                        kiln_float_to_half(gate + start, n, halves.baseAddress!)
                        for i in 0..<n { halves[i] = lookup[Int(halves[i])] }
                        kiln_half_to_float(halves.baseAddress!, n, values.baseAddress!)
                        for i in 0..<n {
                            let x = gate[start + i]
                            let gelu = x <= -10 ? 0 : (x >= 10 ? x : values[i])
                            output[start + i] = gelu * up[start + i]
                        }
                        start += n
                    }
                }
            }
        }
    }

    /// Values per conversion chunk (on the stack).
    static let chunk = 256
}
