import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// The packed product (`kiln_gemm`) in every operand layout and stored type the float models use,
/// its AVX2 body and its portable body, against the plain Double triple loop.
@Suite struct GEMMTests {
    /// Stores `values` as `type` and returns the bytes with the values the stored bits mean.
    static func stored(_ values: [Float], as type: MatrixElementType) -> (bytes: [UInt8], rounded: [Float]) {
        switch type {
        case .f32:
            return (values.withUnsafeBytes { Array($0) }, values)
        case .f16:
            var halves = [UInt16](repeating: 0, count: values.count)
            kiln_float_to_half(values, values.count, &halves)
            return (halves.withUnsafeBytes { Array($0) }, halves.map(MatrixElements.halfToFloat))
        case .bf16:
            let halves = values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            return (halves.withUnsafeBytes { Array($0) }, halves.map { Float(bitPattern: UInt32($0) << 16) })
        }
    }

    enum Layout: CaseIterable { case rowMajor, transposed }

    /// C = A · B for A [m×k] and B [k×n] stored in `layout` each; the first operand in `aType`, the
    /// second in `bType`. Checks the dispatching body and the portable body, and accumulation.
    func check(m: Int, n: Int, k: Int, aType: MatrixElementType, bType: MatrixElementType, aLayout: Layout, bLayout: Layout) {
        var random = TestRandom(UInt64(m * 7919 + n * 31 + k))
        let (aBytes, _) = Self.stored(random.values(m * k), as: aType)
        let (bBytes, _) = Self.stored(random.values(k * n), as: bType)
        let start = random.values(m * n)
        aBytes.withUnsafeBytes { aRaw in
            bBytes.withUnsafeBytes { bRaw in
                // Row-major [m×k] is (k, 1); stored transposed ([k×m]) it is (1, m).
                let a =
                    aLayout == .rowMajor
                    ? MatrixOperand(base: aRaw.baseAddress!, type: aType, rowStride: k, columnStride: 1)
                    : MatrixOperand(base: aRaw.baseAddress!, type: aType, rowStride: 1, columnStride: m)
                let b =
                    bLayout == .rowMajor
                    ? MatrixOperand(base: bRaw.baseAddress!, type: bType, rowStride: n, columnStride: 1)
                    : MatrixOperand(base: bRaw.baseAddress!, type: bType, rowStride: 1, columnStride: k)
                var expected = [Float](repeating: 0, count: m * n)
                GEMM.referenceMultiply(a, b, into: &expected, m: m, n: n, k: k)
                let tolerance = 1e-5 * Float(max(k, 1)).squareRoot()
                var fast = [Float](repeating: .nan, count: m * n), portable = fast
                GEMM.multiply(a, b, into: &fast, m: m, n: n, k: k, context: testKernels)
                GEMM.multiplyPortable(a, b, into: &portable, m: m, n: n, k: k)
                #expect(maxAbsDifference(fast, expected) < tolerance, "\(m)×\(n)×\(k) \(aType)/\(bType) \(aLayout)/\(bLayout)")
                #expect(maxAbsDifference(portable, expected) < tolerance, "portable \(m)×\(n)×\(k) \(aType)/\(bType)")
                var accumulated = start
                GEMM.multiply(a, b, into: &accumulated, m: m, n: n, k: k, accumulate: true, context: testKernels)
                let sums = zip(start, expected).map { $0 + $1 }
                #expect(maxAbsDifference(accumulated, sums) < tolerance)
            }
        }
    }

    @Test(arguments: [(1, 1, 1), (6, 16, 8), (7, 17, 9), (13, 40, 77), (121, 33, 257), (50, 300, 64), (11, 5, 19), (8, 24, 300)])
    func productMatchesReferenceInEveryLayout(shape: (Int, Int, Int)) {
        for aLayout in Layout.allCases {
            for bLayout in Layout.allCases {
                check(m: shape.0, n: shape.1, k: shape.2, aType: .f32, bType: .f32, aLayout: aLayout, bLayout: bLayout)
            }
        }
    }

    @Test(arguments: [MatrixElementType.f16, .bf16])
    func halfWeightsAreWidenedInTheKernel(type: MatrixElementType) {
        // Weights as either operand: conv weights are A (rows k-contiguous), linear weights B read transposed.
        check(m: 37, n: 70, k: 300, aType: type, bType: .f32, aLayout: .rowMajor, bLayout: .rowMajor)
        check(m: 130, n: 45, k: 90, aType: .f32, bType: type, aLayout: .rowMajor, bLayout: .transposed)
        check(m: 9, n: 29, k: 17, aType: type, bType: type, aLayout: .transposed, bLayout: .rowMajor)
    }

    @Test(arguments: [(1, 1, 1), (4, 4, 8), (5, 7, 3), (33, 17, 70), (64, 300, 288), (130, 9, 1152)])
    func gemmMatchesReference(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var random = TestRandom(UInt64(m * 1000 + n * 10 + k))
        let a = random.values(m * k), b = random.values(n * k)
        var fast = [Float](repeating: 0, count: m * n), slow = fast
        GEMM.multiplyTransposed(a, b, into: &fast, m: m, n: n, k: k, context: testKernels)
        GEMM.referenceMultiplyTransposed(a, b, into: &slow, m: m, n: n, k: k)
        #expect(maxAbsDifference(fast, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
        // Accumulating into zeros, and the portable body (what CPUs without AVX2 run).
        var accumulated = [Float](repeating: 0, count: m * n), portable = accumulated
        GEMM.multiplyTransposed(a, b, into: &accumulated, m: m, n: n, k: k, accumulate: true, context: testKernels)
        #expect(maxAbsDifference(accumulated, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                GEMM.multiplyPortable(
                    MatrixOperand(ap.baseAddress!, rowStride: k), MatrixOperand(bp.baseAddress!, rowStride: k).transposed,
                    into: &portable, m: m, n: n, k: k)
            }
        }
        #expect(maxAbsDifference(portable, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
    }

    @Test func gemmBiasesAndAccumulate() {
        var random = TestRandom(3)
        let (m, n, k) = (6, 5, 9)
        let a = random.values(m * k), b = random.values(n * k), rowBias = random.values(m), columnBias = random.values(n)
        var plain = [Float](repeating: 0, count: m * n)
        GEMM.referenceMultiplyTransposed(a, b, into: &plain, m: m, n: n, k: k)
        var out = [Float](repeating: 1, count: m * n)
        GEMM.multiplyTransposed(a, b, into: &out, m: m, n: n, k: k, columnBias: columnBias, rowBias: rowBias, accumulate: true, context: testKernels)
        for i in 0..<m {
            for j in 0..<n {
                #expect(abs(out[i * n + j] - (1 + plain[i * n + j] + rowBias[i] + columnBias[j])) < 1e-5)
            }
        }
    }

    @Test(arguments: [(7, 40, 300), (50, 33, 16)])
    func prepackedOperandGivesTheSameProduct(shape: (Int, Int, Int)) {
        // B packed once (k past the 256-deep slice in the first case) then used by the blocked loops.
        let (m, n, k) = shape
        var random = TestRandom(UInt64(m + n + k))
        let a = random.values(m * k), b = random.values(k * n)
        var packed = [Float](repeating: .nan, count: kiln_gemm_packed_b_count(Int32(n), Int32(k)))
        kiln_gemm_pack_b(Int32(n), Int32(k), Int32(KILN_TYPE_F32), b, n, 1, &packed)
        var viaPacked = [Float](repeating: .nan, count: m * n), direct = viaPacked
        kiln_gemm_prepacked(Int32(m), Int32(n), Int32(k), Int32(KILN_TYPE_F32), a, k, 1, packed, &viaPacked, n, 0)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                GEMM.multiplyOnThisThread(
                    MatrixOperand(ap.baseAddress!, rowStride: k), MatrixOperand(bp.baseAddress!, rowStride: n),
                    into: &direct, m: m, n: n, k: k)
            }
        }
        #expect(viaPacked == direct)
    }

    @Test func wideProductCrossesTheColumnBlock() {
        // n > 2048 (the packed column block) and k > 256 (the depth block) at once.
        check(m: 7, n: 2100, k: 300, aType: .f16, bType: .f32, aLayout: .rowMajor, bLayout: .rowMajor)
    }
}
