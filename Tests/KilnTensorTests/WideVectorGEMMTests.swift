import CKilnKernels
import Testing

/// The AVX-512 twelve-row tile of the float GEMM against the AVX2 six-row tile: the same bits for
/// every shape (whole and partial tiles, ragged columns, several depth slices), with and without
/// accumulation, since every element is the same chain of fused multiply-adds in k order.
@Suite struct WideVectorGEMMTests {
    @Test(arguments: [(37, 45, 300), (12, 16, 7), (13, 3, 520), (120, 33, 64), (7, 17, 1)])
    func twelveRowTileGivesTheSixRowBits(shape: (m: Int, n: Int, k: Int)) {
        if kiln_cpu_has_avx512_vnni() == 0 {
            Issue.record("this CPU has no AVX-512: the comparison below checks nothing new")
        }
        let (m, n, k) = shape
        var rng = SeededGenerator(seed: UInt64(m * 1_000 + n * 10 + k))
        let a = rng.floats(m * k, scale: 2), b = rng.floats(k * n, scale: 2)
        let start = rng.floats(m * n)
        let f32 = Int32(KILN_TYPE_F32)
        for accumulate in [Int32(0), 1] {
            var wide = start, narrow = start
            // Both settings give the same bits, so switching the process-wide flag cannot disturb
            // tests running beside this one.
            let wasEnabled = kiln_avx512_active()
            kiln_set_avx512_enabled(1)
            kiln_gemm(Int32(m), Int32(n), Int32(k), f32, a, k, 1, f32, b, n, 1, &wide, n, accumulate)
            kiln_set_avx512_enabled(0)
            kiln_gemm(Int32(m), Int32(n), Int32(k), f32, a, k, 1, f32, b, n, 1, &narrow, n, accumulate)
            kiln_set_avx512_enabled(wasEnabled)
            for index in 0..<m * n {
                #expect(wide[index].bitPattern == narrow[index].bitPattern, "\(shape) accumulate \(accumulate) [\(index)]")
            }
        }
    }
}
