import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// Weights packed once (in pieces, by any thread) and shared by the samples of a batch: every
/// product through a packing is bitwise the product `kiln_gemm` gives, in a team or not.
@Suite struct PackedWeightTests {
    /// A [m×k] as `type` (rows k-contiguous, as convolution weights), packed in ranges of
    /// `panelsPerPiece` panels, then multiplied by B [k×n]: equal to kiln_gemm bit for bit.
    @Test(arguments: [(7, 40, 300, 1), (50, 33, 16, 3), (121, 70, 257, 2), (6, 2100, 20, 1), (13, 5, 9, 4)])
    func weightPackedInPiecesGivesTheSameProduct(shape: (Int, Int, Int, Int)) {
        let (m, n, k, panelsPerPiece) = shape
        for type in [MatrixElementType.f32, .f16] {
            var random = TestRandom(UInt64(m * 31 + n + k))
            let (aBytes, _) = GEMMTests.stored(random.values(m * k), as: type)
            let b = random.values(k * n)
            var packed = [Float](repeating: .nan, count: kiln_gemm_packed_a_count(Int32(m), Int32(k)))
            var direct = [Float](repeating: .nan, count: m * n), viaPacked = direct, split = direct
            aBytes.withUnsafeBytes { raw in
                let a = MatrixOperand(base: raw.baseAddress!, type: type, rowStride: k)
                for row0 in stride(from: 0, to: m, by: 6 * panelsPerPiece).reversed() {  // out of order on purpose
                    let rows = min(m - row0, 6 * panelsPerPiece)
                    kiln_gemm_pack_a(
                        Int32(m), Int32(k), Int32(row0), Int32(rows), type.kernelTypeForTests,
                        a.offset(row: row0, column: 0).base, k, 1, &packed)
                }
                b.withUnsafeBufferPointer { bp in
                    let bm = MatrixOperand(bp.baseAddress!, rowStride: n)
                    GEMM.multiplyOnThisThread(a, bm, into: &direct, m: m, n: n, k: k)
                    packed.withUnsafeBufferPointer { pp in
                        GEMM.multiplyOnThisThread(packedWeight: pp.baseAddress!, bm, into: &viaPacked, m: m, n: n, k: k)
                        GEMM.multiply(packedWeight: pp.baseAddress!, bm, into: &split, m: m, n: n, k: k, context: testKernels)
                    }
                }
            }
            #expect(viaPacked == direct, "\(m)×\(n)×\(k) \(type)")
            #expect(split == direct, "split \(m)×\(n)×\(k) \(type)")
        }
    }

    /// B [k×n] read transposed from [n×k] (a linear weight), packed in column ranges out of order.
    @Test(arguments: [(7, 40, 300), (130, 45, 90), (3, 2100, 33)])
    func linearWeightPackedInPiecesGivesTheSameProduct(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var random = TestRandom(UInt64(m + 7 * n + k))
        let a = random.values(m * k)
        let (wBytes, _) = GEMMTests.stored(random.values(n * k), as: .f16)
        var packed = [Float](repeating: .nan, count: kiln_gemm_packed_b_count(Int32(n), Int32(k)))
        var direct = [Float](repeating: .nan, count: m * n), viaPacked = direct, viaWeight = direct
        wBytes.withUnsafeBytes { raw in
            let w = MatrixOperand(base: raw.baseAddress!, type: .f16, rowStride: k).transposed
            for column0 in stride(from: 0, to: n, by: 32).reversed() {
                kiln_gemm_pack_b_columns(
                    Int32(n), Int32(k), Int32(column0), Int32(min(32, n - column0)), Int32(KILN_TYPE_F16),
                    w.offset(row: 0, column: column0).base, w.rowStride, w.columnStride, &packed)
            }
            a.withUnsafeBufferPointer { ap in
                let am = MatrixOperand(ap.baseAddress!, rowStride: k)
                GEMM.multiplyOnThisThread(am, w, into: &direct, m: m, n: n, k: k)
                kiln_gemm_prepacked(Int32(m), Int32(n), Int32(k), Int32(KILN_TYPE_F32), ap.baseAddress!, k, 1, packed, &viaPacked, n, 0)
                GEMM.multiply(am, weight: w, into: &viaWeight, m: m, n: n, k: k, context: testKernels)
            }
        }
        #expect(viaPacked == direct)
        #expect(viaWeight == direct)
    }

    /// The portable bodies: packings made in pieces and the products through them equal the
    /// portable kiln_gemm bit for bit (the dispatching bodies above run AVX2 on this machine kind).
    @Test(arguments: [(7, 40, 300), (50, 33, 16), (13, 2100, 9)])
    func portableBodiesGiveThePortableProduct(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var random = TestRandom(UInt64(3 * m + n + k))
        let (aBytes, _) = GEMMTests.stored(random.values(m * k), as: .f16)
        let b = random.values(k * n)
        var packedA = [Float](repeating: .nan, count: kiln_gemm_packed_a_count(Int32(m), Int32(k)))
        var packedB = [Float](repeating: .nan, count: kiln_gemm_packed_b_count(Int32(n), Int32(k)))
        var direct = [Float](repeating: .nan, count: m * n), viaA = direct, viaB = direct
        aBytes.withUnsafeBytes { raw in
            let a = MatrixOperand(base: raw.baseAddress!, type: .f16, rowStride: k)
            for row0 in stride(from: 0, to: m, by: 12).reversed() {
                kiln_gemm_pack_a_scalar(
                    Int32(m), Int32(k), Int32(row0), Int32(min(12, m - row0)), Int32(KILN_TYPE_F16),
                    a.offset(row: row0, column: 0).base, k, 1, &packedA)
            }
            b.withUnsafeBufferPointer { bp in
                for column0 in stride(from: 0, to: n, by: 32).reversed() {
                    kiln_gemm_pack_b_columns_scalar(
                        Int32(n), Int32(k), Int32(column0), Int32(min(32, n - column0)),
                        Int32(KILN_TYPE_F32), bp.baseAddress! + column0, n, 1, &packedB)
                }
                GEMM.multiplyPortable(a, MatrixOperand(bp.baseAddress!, rowStride: n), into: &direct, m: m, n: n, k: k)
                kiln_gemm_prepacked_a_scalar(
                    Int32(m), Int32(n), Int32(k), packedA, Int32(KILN_TYPE_F32), bp.baseAddress!, n, 1,
                    &viaA, n, 0)
            }
            kiln_gemm_prepacked_scalar(
                Int32(m), Int32(n), Int32(k), Int32(KILN_TYPE_F16), raw.baseAddress!, k, 1, packedB,
                &viaB, n, 0)
        }
        #expect(viaA == direct)
        #expect(viaB == direct)
    }

    /// Four samples in teams (rounds of the pool's width), each through a linear product, a 3×3
    /// convolution on the Winograd path and one on the im2col path with the same weights: each
    /// sample's outputs equal the same layers run alone. One member of each team also packs a
    /// weight no other member uses, which must neither hang the team nor change anything.
    @Test func samplesSharingPackingsMatchSamplesAlone() {
        let (channels, outChannels, side) = (24, 20, 20)
        var random = TestRandom(99)
        let (convBytes, _) = GEMMTests.stored(random.values(outChannels * channels * 9), as: .f16)
        let (linearBytes, _) = GEMMTests.stored(random.values(outChannels * channels), as: .f16)
        let (strayBytes, _) = GEMMTests.stored(random.values(outChannels * channels), as: .f16)
        let inputs = (0..<4).map { _ in random.values(channels * side * side) }
        let winograd = Conv2D(inChannels: channels, outChannels: outChannels, kernel: 3, stride: 1, padding: 1)
        let strided = Conv2D(inChannels: channels, outChannels: outChannels, kernel: 3, stride: 2, padding: 1)
        #expect(winograd.winogradApplies(height: side, width: side, settings: testKernels.settings))

        func run(_ input: [Float], stray: Bool) -> [Float] {
            convBytes.withUnsafeBytes { convRaw in
                linearBytes.withUnsafeBytes { linearRaw in
                    let convWeight = MatrixOperand(base: convRaw.baseAddress!, type: .f16, rowStride: channels * 9)
                    let linearWeight = MatrixOperand(base: linearRaw.baseAddress!, type: .f16, rowStride: channels).transposed
                    var results: [Float] = []
                    for conv in [winograd, strided] {
                        let size = conv.outputSize(height: side, width: side)
                        var output = [Float](repeating: .nan, count: outChannels * size.height * size.width)
                        var scratch = [Float](repeating: .nan, count: max(1, conv.scratchCount(height: side, width: side, context: testKernels)))
                        conv.apply(
                            input: input, height: side, width: side, weight: convWeight, bias: nil, output: &output, scratch: &scratch,
                            context: testKernels)
                        results += output
                    }
                    var linear = [Float](repeating: .nan, count: side * side * outChannels)
                    input.withUnsafeBufferPointer { x in
                        GEMM.multiply(
                            MatrixOperand(x.baseAddress!, rowStride: channels), weight: linearWeight, into: &linear,
                            m: side * side, n: outChannels, k: channels, context: testKernels)
                        if stray {
                            strayBytes.withUnsafeBytes { raw in
                                var unused = [Float](repeating: 0, count: side * side * outChannels)
                                let w = MatrixOperand(base: raw.baseAddress!, type: .f16, rowStride: channels).transposed
                                GEMM.multiply(
                                    MatrixOperand(x.baseAddress!, rowStride: channels), weight: w, into: &unused,
                                    m: side * side, n: outChannels, k: channels, context: testKernels)
                            }
                        }
                    }
                    return results + linear
                }
            }
        }

        let alone = inputs.map { run($0, stray: false) }
        var together = [[Float]](repeating: [], count: inputs.count)
        together.withUnsafeMutableBufferPointer { slots in
            PackingTeam.runSamples(inputs.count, context: testKernels) { index in
                slots[index] = run(inputs[index], stray: index % 2 == 0)
            }
        }
        for index in inputs.indices {
            #expect(together[index] == alone[index], "sample \(index)")
        }
    }

    /// A linear weight packed once (`PackedWeight`, as an encoder does at load) gives, over any
    /// number of rows, bitwise the product of `multiply(_:weight:)`, which packs it per call.
    @Test(arguments: [(1, 384, 384), (12, 1536, 384), (70, 384, 1536), (7, 45, 90), (300, 17, 33)])
    func weightPackedAtLoadGivesTheSameProduct(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for type in [MatrixElementType.f32, .f16] {
            var random = TestRandom(UInt64(3 * m + n + 5 * k))
            let a = random.values(m * k)
            let (wBytes, _) = GEMMTests.stored(random.values(n * k), as: type)
            var perCall = [Float](repeating: .nan, count: m * n), once = perCall
            wBytes.withUnsafeBytes { raw in
                let w = MatrixOperand(base: raw.baseAddress!, type: type, rowStride: k).transposed
                let packed = PackedWeight(w, columns: n, depth: k, context: testKernels)
                a.withUnsafeBufferPointer { ap in
                    let am = MatrixOperand(ap.baseAddress!, rowStride: k)
                    GEMM.multiply(am, weight: w, into: &perCall, m: m, n: n, k: k, context: testKernels)
                    GEMM.multiply(am, packed: packed, into: &once, m: m, context: testKernels)
                }
            }
            #expect(once == perCall, "\(m)×\(n)×\(k) \(type)")
        }
    }
}

extension MatrixElementType {
    var kernelTypeForTests: Int32 { self == .f32 ? Int32(KILN_TYPE_F32) : self == .f16 ? Int32(KILN_TYPE_F16) : Int32(KILN_TYPE_BF16) }

}
