import CKilnKernels
import KilnFormats

extension Matmul {
    /// Whether `type` has no product kernel of its own (Q2_K, Q3_K, IQ4_NL, IQ4_XS), so that its
    /// products go through `dequantizedRows`.
    static func usesDequantizedRows(_ type: GGMLType) -> Bool {
        let raw = Int32(type.rawValue)
        return kiln_matmul_q8_supports(raw) == 0 && kiln_matmul_q8k_supports(raw) == 0
            && kiln_matmul_f32_supports(raw) == 0
    }

    /// Bytes of dequantized weights one step of `dequantizedRows` holds: small enough for the
    /// stack of a pool thread, where `withUnsafeTemporaryAllocation` puts it (so the fallback
    /// allocates nothing per call), and at least one row.
    static let dequantizedChunkBytes = 64 * 1024

    /// `output[b][r] = Σ_c weight[r][c] · input[b][c]` for rows `rows` of a weight type without a
    /// kernel: a few rows at a time are dequantized exactly (`Dequantization`) into a stack buffer
    /// and multiplied by the F32 float kernel. Correct but slower than the integer kernels: it
    /// spends a float conversion per weight and a float multiply-add per product.
    ///
    /// - Parameters:
    ///   - output: element `[0][rows.lowerBound]` of the product (row stride `outputStride`).
    ///   - portable: use the kernel's scalar C body, as `.portable` asks.
    static func dequantizedRows(
        _ weight: WeightMatrix, rows: Range<Int>, input: UnsafePointer<Float>, inputStride: Int,
        batch: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, portable: Bool
    ) {
        let columns = weight.columns
        let rowsPerStep = max(1, dequantizedChunkBytes / (columns * MemoryLayout<Float>.stride))
        let kernel = portable ? kiln_matmul_f32_scalar : kiln_matmul_f32
        let f32 = Int32(GGMLType.f32.rawValue)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: min(rowsPerStep, rows.count) * columns) { scratch in
            guard let values = scratch.baseAddress else { return }
            var row = rows.lowerBound
            while row < rows.upperBound {
                let count = min(rowsPerStep, rows.upperBound - row)
                Dequantization.dequantize(weight.type, from: weight.row(row), count: count * columns, into: values)
                kernel(
                    f32, values, columns * MemoryLayout<Float>.stride, Int32(count), Int32(columns),
                    input, inputStride, Int32(batch), output + (row - rows.lowerBound), outputStride)
                row += count
            }
        }
    }
}
