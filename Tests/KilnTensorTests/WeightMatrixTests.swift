import KilnFormats
import KilnTensor
import Testing

@Suite struct WeightMatrixTests {
    @Test func rejectsBadShapesAndShortData() {
        let bytes = [UInt8](repeating: 0, count: 100)
        bytes.withUnsafeBytes { raw in
            #expect(throws: TensorError.rowNotBlockAligned(type: .q4_1, columns: 48)) {
                try WeightMatrix(type: .q4_1, rows: 1, columns: 48, bytes: raw)
            }
            #expect(throws: TensorError.dataTooShort(needed: 120, available: 100)) {
                try WeightMatrix(type: .q4_1, rows: 3, columns: 64, bytes: raw)
            }
            #expect(throws: TensorError.self) { try WeightMatrix(type: .q4_1, rows: 0, columns: 32, bytes: raw) }
            #expect(throws: TensorError.self) {
                try WeightMatrix(type: .q8_0, rows: Int.max / 2, columns: 1 << 40, bytes: raw)
            }
            #expect(throws: TensorError.unsupportedType(.q8_1)) {
                try WeightMatrix(type: .q8_1, rows: 1, columns: 32, bytes: raw)
            }
        }
    }

    @Test func embeddingRowLookupDequantizesThatRow() throws {
        let weights = try TestMatrix(.q8_0, rows: 5, columns: 64, seed: 3)
        var row = [Float](repeating: 0, count: 64)
        try weights.matrix.dequantizeRow(4, into: &row)
        var direct = [Float](repeating: 0, count: 64)
        Dequantization.dequantize(.q8_0, from: weights.matrix.row(4), count: 64, into: &direct)
        #expect(row == direct)
        #expect(weights.matrix.rowByteCount == 68)
        #expect(throws: TensorError.rowOutOfRange(row: 5, rows: 5)) { try weights.matrix.dequantizeRow(5, into: &row) }
        #expect(throws: TensorError.rowOutOfRange(row: -1, rows: 5)) { try weights.matrix.dequantizeRow(-1, into: &row) }
    }

    @Test func rowRangeIsAViewOfThoseRows() throws {
        let weights = try TestMatrix(.q8_0, rows: 6, columns: 64, seed: 5)
        let middle = weights.matrix.rows(2..<5)
        #expect(middle.rows == 3 && middle.columns == 64 && middle.rowByteCount == weights.matrix.rowByteCount)
        for row in 0..<3 { #expect(middle.row(row) == weights.matrix.row(row + 2)) }
    }

    @Test func q8_0DequantizesScaleTimesQuant() throws {
        // d = 0.5 (half 0x3800), quants 0, 1, -1, 127, -128, ...
        var block = [UInt8](repeating: 0, count: 34)
        block[0] = 0x00
        block[1] = 0x38
        let quants: [Int8] = [0, 1, -1, 127, -128] + [Int8](repeating: 2, count: 27)
        for (i, q) in quants.enumerated() { block[2 + i] = UInt8(bitPattern: q) }
        var out = [Float](repeating: 0, count: 32)
        Dequantization.dequantize(.q8_0, from: block, count: 32, into: &out)
        #expect(Array(out[0..<5]) == [0, 0.5, -0.5, 63.5, -64])
        #expect(out[31] == 1)
    }
}
