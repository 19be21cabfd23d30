import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// The C kernels' AVX2 bodies against their portable scalar bodies (what a CPU without AVX2 runs),
/// and the shared exponential against Foundation's. Skipped parts are reported, not silently passed.
@Suite struct PortableBodyTests {
    @Test func cpuHasTheSIMDBodiesThisSuiteCompares() {
        // The development and CI machines have AVX2; if not, only the scalar bodies run everywhere.
        #expect(kiln_simd_active() == kiln_cpu_has_avx2())
    }

    @Test func exponentialIsAccurateAndClampsTails() {
        var rng = SeededGenerator(seed: 1)
        var x = rng.floats(4096, scale: 80)
        x += [0, -0.0, 1, -1, 88.5, -87.2, -87.4, -100, -.infinity, 89, 1e-8, -1e-8, 0.6931472, -0.3465736]
        var simd = [Float](repeating: 0, count: x.count), scalar = simd
        kiln_exp(x, x.count, &simd)
        kiln_exp_scalar(x, x.count, &scalar)
        for i in x.indices {
            let expected = Foundation.exp(Double(x[i]))
            if x[i] < -87.3 {
                #expect(simd[i] == 0 && scalar[i] == 0, "exp(\(x[i]))")
            } else if x[i] > 88.37 {
                #expect(simd[i] == .infinity && scalar[i] == .infinity, "exp(\(x[i]))")
            } else {
                #expect(abs(Double(simd[i]) - expected) <= 2e-7 * expected, "exp(\(x[i])) = \(simd[i])")
                #expect(abs(Double(scalar[i]) - expected) <= 2e-7 * expected, "exp(\(x[i])) = \(scalar[i])")
            }
        }
    }

    @Test func vectorBodiesAgree() {
        var rng = SeededGenerator(seed: 2)
        let n = 1539  // not a multiple of 8: exercises the tails
        let a = rng.floats(n, scale: 10), b = rng.floats(n, scale: 3)
        var simd = [Float](repeating: 0, count: n), scalar = simd
        kiln_swiglu(a, b, n, &simd)
        kiln_swiglu_scalar(a, b, n, &scalar)
        for i in 0..<n { #expect(abs(simd[i] - scalar[i]) <= 1e-6 * max(1, abs(scalar[i]))) }
        kiln_add(a, b, n, &simd)
        kiln_add_scalar(a, b, n, &scalar)
        #expect(simd == scalar)
        var softSIMD = a, softScalar = a
        softSIMD[5] = -.infinity
        softScalar[5] = -.infinity
        kiln_softmax(&softSIMD, n)
        kiln_softmax_scalar(&softScalar, n)
        #expect(softSIMD[5] == 0)
        // The bodies sum the exponentials in different orders (8 lanes vs. serially): over 1539
        // terms that moves the sum, and so every output, by up to n·ε ≈ 1.8e-4 relative (~√n·ε typically).
        for i in 0..<n { #expect(abs(softSIMD[i] - softScalar[i]) <= 1e-4 * softScalar[i]) }
        let weight = rng.floats(577)
        var normSIMD = [Float](repeating: 0, count: 3 * 577), normScalar = normSIMD
        kiln_rms_norm(a, weight, 577, 2, 1e-5, &normSIMD)
        kiln_rms_norm_scalar(a, weight, 577, 2, 1e-5, &normScalar)
        for i in 0..<2 * 577 { #expect(abs(normSIMD[i] - normScalar[i]) <= 1e-6 * max(1, abs(normScalar[i]))) }
    }

    @Test(arguments: [Int32(0), 1])
    func ropeBodiesAgree(neox: Int32) {
        var rng = SeededGenerator(seed: 3)
        let angles = rng.floats(32, scale: 3)
        let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
        let x = rng.floats(9 * 64)
        var simd = x, scalar = x
        kiln_rope(&simd, 9, 64, 64, cos, sin, neox)
        kiln_rope_scalar(&scalar, 9, 64, 64, cos, sin, neox)
        for i in x.indices { #expect(abs(simd[i] - scalar[i]) <= 1e-6) }
        // Partial rotation (dims < head_dim) with an odd number of pairs leaves the tail alone.
        var partialSIMD = x, partialScalar = x
        kiln_rope(&partialSIMD, 9, 64, 22, cos, sin, neox)
        kiln_rope_scalar(&partialScalar, 9, 64, 22, cos, sin, neox)
        for i in x.indices { #expect(abs(partialSIMD[i] - partialScalar[i]) <= 1e-6) }
        #expect(partialSIMD[30] == x[30] && partialSIMD[63] == x[63])
    }

    @Test func halfConversionBodiesAgreeIncludingSubnormalsAndOverflow() {
        var rng = SeededGenerator(seed: 4)
        var x = rng.floats(2000, scale: 2)
        x += [0, -0.0, 65504, 65519, 65520, -70000, 6e-8, 5.96e-8, 2.98e-8, 2.9e-8, 1e-5, -3e-6, .infinity, 6.1e-5]
        x += (0..<500).map { _ in rng.float(1e-4) }
        var simd = [UInt16](repeating: 0, count: x.count)
        kiln_float_to_half(x, x.count, &simd)
        for i in x.indices {
            let expected = Float16(x[i]).bitPattern
            #expect(simd[i] == expected, "half(\(x[i]))")
        }
        // The portable body is what the AVX2 dispatch replaces; compare it through Float16 too.
        var back = [Float](repeating: 0, count: x.count)
        kiln_half_to_float(simd, simd.count, &back)
        for i in x.indices { #expect(back[i] == Float(Float16(bitPattern: simd[i]))) }
    }

    @Test(arguments: [1, 3, 4, 6])
    func quantizedActivationsAgree(rows: Int) {
        var rng = SeededGenerator(seed: 5)
        let columns = 576, blocks = columns / 32, groups = (rows + 3) / 4
        var x = rng.floats(rows * columns, scale: 4)
        for i in 0..<32 { x[32 + i] = 0 }  // an all-zero block
        var simd = [kiln_q8x4_block](repeating: kiln_q8x4_block(), count: groups * blocks)
        // Garbage where the padding lanes go, to check they are cleared.
        withUnsafeMutableBytes(of: &simd[simd.count - 1]) { $0.initializeMemory(as: UInt8.self, repeating: 0x7F) }
        var scalar = simd
        kiln_quantize_q8(x, columns, Int32(rows), Int32(columns), &simd)
        kiln_quantize_q8_scalar(x, columns, Int32(rows), Int32(columns), &scalar)
        #expect(simd.withUnsafeBytes { a in scalar.withUnsafeBytes { b in a.elementsEqual(b) } })
        for row in 0..<groups * 4 {
            for block in 0..<blocks {
                let group = simd[row / 4 * blocks + block], lane = row % 4
                let d = withUnsafeBytes(of: group.d) { $0.load(fromByteOffset: 4 * lane, as: Float.self) }
                let s = withUnsafeBytes(of: group.s) { $0.load(fromByteOffset: 4 * lane, as: Float.self) }
                let quants = withUnsafeBytes(of: group.qs) { raw in
                    (0..<32).map { Int(raw.load(fromByteOffset: lane * 32 + $0, as: Int8.self)) }
                }
                if row >= rows {
                    #expect(d == 0 && s == 0 && quants.allSatisfy { $0 == 0 }, "padding row \(row)")
                    continue
                }
                // As llama.cpp's Q8_0/Q8_1: q = round-half-even(x · 127/amax) with the float quotient,
                // d = half(amax / 127), s = half((amax / 127) · Σq) (halves rounded to nearest even).
                let values = x[(row * columns + block * 32)..<(row * columns + block * 32 + 32)]
                let amax = values.map { abs($0) }.max()!
                let inverse: Float = amax > 0 ? 127 / amax : 0
                for (i, value) in values.enumerated() {
                    #expect(quants[i] == Int((value * inverse).rounded(.toNearestOrEven)))
                }
                let exactScale = amax / 127
                #expect(d == Float(Float16(exactScale)))
                #expect(s == Float(Float16(exactScale * Float(quants.reduce(0, +)))))
                if row == 0 && block == 1 { #expect(d == 0) }
            }
        }
    }

    @Test(arguments: [Int32(0), 1])
    func attentionSpanBodiesAgree(f16: Int32) {
        var rng = SeededGenerator(seed: 6)
        let dim = 64, count = 150, stride = 3 * 64
        let q = rng.floats(dim, scale: 2)
        let keys = rng.floats(count * stride, scale: 2), values = rng.floats(count * stride)
        var keyHalves = [UInt16](repeating: 0, count: keys.count), valueHalves = keyHalves
        kiln_float_to_half(keys, keys.count, &keyHalves)
        kiln_float_to_half(values, values.count, &valueHalves)
        var simdState = [Float](repeating: 0, count: dim + 2), scalarState = simdState
        var simdOut = [Float](repeating: 0, count: dim), scalarOut = simdOut
        kiln_attention_begin(&simdState, Int32(dim))
        kiln_attention_begin(&scalarState, Int32(dim))
        // Split into uneven spans, as a paged cache would feed them.
        var start = 0
        for span in [16, 16, 50, 68] {
            if f16 == 1 {
                keyHalves.withUnsafeBufferPointer { k in
                    valueHalves.withUnsafeBufferPointer { v in
                        kiln_attention_span(
                            q, k.baseAddress! + start * stride, v.baseAddress! + start * stride, stride,
                            Int32(span), Int32(dim), 0.125, 1, &simdState)
                        kiln_attention_span_scalar(
                            q, k.baseAddress! + start * stride, v.baseAddress! + start * stride,
                            stride, Int32(span), Int32(dim), 0.125, 1, &scalarState)
                    }
                }
            } else {
                keys.withUnsafeBufferPointer { k in
                    values.withUnsafeBufferPointer { v in
                        kiln_attention_span(
                            q, k.baseAddress! + start * stride, v.baseAddress! + start * stride, stride,
                            Int32(span), Int32(dim), 0.125, 0, &simdState)
                        kiln_attention_span_scalar(
                            q, k.baseAddress! + start * stride, v.baseAddress! + start * stride,
                            stride, Int32(span), Int32(dim), 0.125, 0, &scalarState)
                    }
                }
            }
            start += span
        }
        kiln_attention_finish(simdState, Int32(dim), &simdOut)
        kiln_attention_finish(scalarState, Int32(dim), &scalarOut)
        for i in 0..<dim { #expect(abs(simdOut[i] - scalarOut[i]) <= 2e-6) }
    }
}
