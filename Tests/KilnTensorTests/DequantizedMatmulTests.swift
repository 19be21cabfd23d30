import KilnFormats
import KilnTensor
import Testing

/// Q2_K, Q3_K, IQ4_NL and IQ4_XS have no product kernel: `Matmul` dequantizes their rows exactly and
/// multiplies them by the F32 float kernel. Its products must equal the plain-Swift reference up to
/// the order of the float additions: every element within 1e-5 of Σ_c |w·x| (the sum of the
/// magnitudes of its terms, which bounds any reordering's rounding error).
@Suite struct DequantizedMatmulTests {
    static let types: [GGMLType] = [.q2_K, .q3_K, .iq4_nl, .iq4_xs]

    @Test(arguments: types, [1, 3, 17])
    func multiplyEqualsReference(type: GGMLType, batch: Int) throws {
        let rows = 37, columns = 512
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) * 31 + UInt64(batch))
        var random = TestRandom(UInt64(batch))
        let input = random.values(batch * columns)
        var expected = [Float](repeating: 0, count: batch * rows)
        Matmul.reference(weights.matrix, input: input, batch: batch, output: &expected)
        let bounds = termMagnitudeSums(weights.matrix, input: input, batch: batch)
        let pool = WorkerPool(threadCount: 2)
        let workspace = MatmulWorkspace(maxBatch: batch, maxColumns: columns)
        for path in [Matmul.KernelPath.automatic, .portable] {
            var actual = [Float](repeating: .nan, count: batch * rows)
            input.withUnsafeBufferPointer { x in
                actual.withUnsafeMutableBufferPointer { y in
                    guard let xBase = x.baseAddress, let yBase = y.baseAddress else { return }
                    Matmul.multiply(
                        weights.matrix, input: xBase, batch: batch, output: yBase, pool: pool,
                        workspace: workspace, path: path)
                }
            }
            // Written so that a NaN (an output the product never wrote) counts as a failure.
            let outside = actual.indices.filter { !(abs(actual[$0] - expected[$0]) <= 1e-5 * bounds[$0]) }
            #expect(outside.isEmpty, "\(type) batch \(batch) \(path): \(outside.count) elements differ")
        }
    }

    @Test(arguments: types)
    func weightMatrixAcceptsTheType(type: GGMLType) throws {
        #expect(Dequantization.isSupported(type))
        let weights = try TestMatrix(type, rows: 2, columns: 256, seed: 7)
        var row = [Float](repeating: .nan, count: 256)
        try weights.matrix.dequantizeRow(1, into: &row)
        #expect(row.allSatisfy { $0.isFinite })
    }

    /// Σ_c |w[r][c] · x[b][c]| for every output element (never zero: at least the smallest normal).
    private func termMagnitudeSums(_ weight: WeightMatrix, input: [Float], batch: Int) -> [Float] {
        var values = [Float](repeating: 0, count: weight.rows * weight.columns)
        Dequantization.dequantize(weight.type, from: weight.data, count: values.count, into: &values)
        var sums = [Float](repeating: 0, count: batch * weight.rows)
        for b in 0..<batch {
            for r in 0..<weight.rows {
                var sum: Float = 0
                for c in 0..<weight.columns { sum += abs(values[r * weight.columns + c] * input[b * weight.columns + c]) }
                sums[b * weight.rows + r] = max(sum, .leastNormalMagnitude)
            }
        }
        return sums
    }
}
