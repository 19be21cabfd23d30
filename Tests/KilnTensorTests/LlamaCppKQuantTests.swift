import CKilnKernels
import Foundation
import KilnFormats
import KilnTensor
import Testing

/// The llama.cpp-exact pieces added for Gemma 3's Q4_K_M file: Q8_K activations, the Q4_K/Q6_K
/// products over them and the tabulated GELU. (Their bits were compared with llama.cpp's own
/// quantize_row_q8_K, ggml_gemv_q4_K_8x8_q8_K and ggml_vec_dot_q6_K_q8_K, called from its shared
/// library on rows of the Gemma 3 file: 9 600 products, all equal; see Docs/models.md.)
@Suite struct LlamaCppKQuantTests {
    /// The portable body forms the same integers and float operations as the AVX2 one.
    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func portableBodyGivesTheSIMDBits(type: GGMLType) throws {
        let rows = 24, columns = 512
        let weights = try TestMatrix(type, rows: rows, columns: columns, seed: 11 + UInt64(type.rawValue))
        let pool = WorkerPool(threadCount: 2)
        for batch in [1, 5] {
            var rng = SeededGenerator(seed: UInt64(batch) + 40)
            let input = rng.floats(batch * columns, scale: 3)
            var simd = [Float](repeating: .nan, count: batch * rows), portable = simd
            Matmul.multiply(
                weights.matrix, input: input, batch: batch, output: &simd, pool: pool, workspace: MatmulWorkspace(),
                path: .automatic)
            Matmul.multiply(
                weights.matrix, input: input, batch: batch, output: &portable, pool: pool,
                workspace: MatmulWorkspace(), path: .portable)
            #expect(simd == portable, "\(type) batch \(batch)")
        }
    }

    /// quantize_row_q8_K's rule: the value of largest magnitude m (the first) maps to −127 through
    /// the scale −127/m, the rest round half to even, d = 1/(−127/m), bsums per 16.
    @Test func activationsQuantizeAsLlamaCppsQ8K() {
        var x = (0..<256).map { Float($0 % 17) * 0.25 - 2 }
        x[37] = -3
        x[200] = 3  // the same magnitude later: the first one sets the sign
        var block = kiln_q8k_block()
        kiln_quantize_q8k(x, 256, 1, 256, &block)
        let iscale: Float = -127 / -3
        #expect(block.d == 1 / iscale)
        let qs = withUnsafeBytes(of: block.qs) { Array($0.bindMemory(to: Int8.self)) }
        #expect(qs[37] == -127 && qs[200] == 127)
        for (index, value) in x.enumerated() {
            #expect(Int(qs[index]) == min(127, Int((iscale * value).rounded(.toNearestOrEven))))
        }
        let bsums = withUnsafeBytes(of: block.bsums) { Array($0.bindMemory(to: Int16.self)) }
        for group in 0..<16 { #expect(Int(bsums[group]) == qs[16 * group..<16 * group + 16].reduce(0) { $0 + Int($1) }) }
    }

    /// The AVX2 quantization of Q8_K activations gives the scalar body's blocks, byte for byte:
    /// random rows, a row whose largest magnitude appears with both signs, a zero row.
    @Test func simdActivationQuantizationMatchesThePortableBody() {
        let rows = 6, columns = 512
        var rng = SeededGenerator(seed: 77)
        var x = rng.floats(rows * columns, scale: 5)
        for j in 0..<columns { x[3 * columns + j] = Float(j % 9) - 4 }  // ±4 many times, −4 first
        for j in 0..<columns { x[5 * columns + j] = 0 }
        let blocks = rows * columns / 256
        var simd = [kiln_q8k_block](repeating: kiln_q8k_block(), count: blocks), portable = simd
        kiln_quantize_q8k(x, columns, Int32(rows), Int32(columns), &simd)
        kiln_quantize_q8k_scalar(x, columns, Int32(rows), Int32(columns), &portable)
        for index in 0..<blocks {
            let same = withUnsafeBytes(of: simd[index]) { a in withUnsafeBytes(of: portable[index]) { b in a.elementsEqual(b) } }
            #expect(same, "block \(index)")
        }
    }

    /// ggml's table: the input rounded to a half, its GELU rounded to a half; ±10 and beyond pass
    /// through or vanish. Within half precision of the exact tanh form.
    @Test func tabulatedGELUFollowsGGML() {
        let gate: [Float] = [-12, -10, -3.3, -0.5, 0, 0.001, 0.7, 2.5, 9.99, 10, 15]
        let up = [Float](repeating: 2, count: gate.count)
        var output = [Float](repeating: .nan, count: gate.count)
        TabulatedGELU.geglu(gate: gate, up: up, count: gate.count, into: &output)
        #expect(output[0] == 0 && output[1] == 0)
        #expect(output[9] == 20 && output[10] == 30)
        for index in 2..<9 {
            let x = gate[index]
            let expected = Float(Float16(TabulatedGELU.ggmlGELU(Float(Float16(x))))) * 2
            #expect(output[index] == expected, "x = \(x)")
            #expect(abs(output[index] - 2 * Activation.geluTanh(x)) <= 2e-3 * max(1, abs(x)), "x = \(x)")
        }
    }
}
