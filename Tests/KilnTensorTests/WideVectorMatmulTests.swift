import CKilnKernels
import Foundation
import KilnFormats
import KilnTensor
import Testing

/// The AVX-512 VNNI bodies of the integer matmul against its AVX2 bodies: the same bits for every
/// 32-element type, batch size (the 16-, 8- and 4-row passes and their remainders) and odd row count
/// (the last weight row without a partner). Their accuracy against the Swift reference is `MatmulTests`'s.
@Suite struct WideVectorMatmulTests {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]

    @Test func wideBodiesRunWhereTheCPUHasThem() {
        // The development machine has AVX-512 VNNI; a CPU without it compares AVX2 with itself here.
        #expect(kiln_avx512_active() == kiln_cpu_has_avx512_vnni())
        if kiln_cpu_has_avx512_vnni() == 0 {
            Issue.record("this CPU has no AVX-512 VNNI: the comparison below checks nothing new")
        }
    }

    @Test(arguments: types)
    func wideBodyGivesTheAVX2Bits(type: GGMLType) throws {
        let rows = 37, columns = 288, outputStride = 41
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: 31 + UInt64(type.rawValue))
        let blocksPerRow = columns / 32
        for batch in [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 29, 32, 64] {
            var rng = SeededGenerator(seed: 300 + UInt64(batch))
            let input = rng.floats(batch * columns, scale: 4)
            let groups = (batch + 3) / 4
            var activations = [kiln_q8x4_block](repeating: kiln_q8x4_block(), count: groups * blocksPerRow)
            kiln_quantize_q8(input, columns, Int32(batch), Int32(columns), &activations)
            var wide = [Float](repeating: .nan, count: batch * outputStride), narrow = wide
            let type32 = Int32(type.rawValue)
            kiln_matmul_q8(
                type32, weights.matrix.row(0), weights.matrix.rowByteCount, Int32(rows), Int32(columns), activations,
                Int32(batch), &wide, outputStride)
            kiln_matmul_q8_avx2(
                type32, weights.matrix.row(0), weights.matrix.rowByteCount, Int32(rows), Int32(columns), activations,
                Int32(batch), &narrow, outputStride)
            for b in 0..<batch {
                for r in 0..<rows {
                    let index = b * outputStride + r
                    #expect(wide[index].bitPattern == narrow[index].bitPattern, "\(type) batch \(batch) [\(b), \(r)]")
                }
                // Past each output row's end, nothing was written.
                for r in rows..<outputStride { #expect(wide[b * outputStride + r].isNaN) }
            }
        }
    }

    /// Q4_K's batches of eight or more take its sideways body (sixteen activation rows per pass,
    /// the last pass partly empty), fewer the pair body.
    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func wideKQuantBodyGivesTheAVX2Bits(type: GGMLType) throws {
        let rows = 21, columns = 512, outputStride = 23
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: 51 + UInt64(type.rawValue))
        for batch in [1, 3, 7, 8, 11, 16, 19, 24, 33, 64] {
            var rng = SeededGenerator(seed: 500 + UInt64(batch))
            let input = rng.floats(batch * columns, scale: 4)
            var activations = [kiln_q8k_block](repeating: kiln_q8k_block(), count: batch * columns / 256)
            kiln_quantize_q8k(input, columns, Int32(batch), Int32(columns), &activations)
            var wide = [Float](repeating: .nan, count: batch * outputStride), narrow = wide
            let type32 = Int32(type.rawValue)
            kiln_matmul_q8k(
                type32, weights.matrix.row(0), weights.matrix.rowByteCount, Int32(rows), Int32(columns), activations,
                Int32(batch), &wide, outputStride)
            kiln_matmul_q8k_avx2(
                type32, weights.matrix.row(0), weights.matrix.rowByteCount, Int32(rows), Int32(columns), activations,
                Int32(batch), &narrow, outputStride)
            for b in 0..<batch {
                for r in 0..<rows {
                    let index = b * outputStride + r
                    #expect(wide[index].bitPattern == narrow[index].bitPattern, "\(type) batch \(batch) [\(b), \(r)]")
                }
                for r in rows..<outputStride { #expect(wide[b * outputStride + r].isNaN) }
            }
        }
    }
}
