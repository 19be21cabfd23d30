import CKilnKernels
import Foundation
import Testing
import KilnTensor

/// The packed product (`kiln_gemm`) in every operand layout and stored type the image models use,
/// its AVX2 body and its portable body, against the plain Double triple loop; and the kernels
/// built on it (convolution in bands, attention in row blocks) at sizes that cross their blocks.
@Suite struct ImageGEMMTests {
    /// Stores `values` as `type` and returns the bytes with the values the stored bits mean.
    static func stored(_ values: [Float], as type: ImageElementType) -> (bytes: [UInt8], rounded: [Float]) {
        switch type {
        case .f32:
            return (values.withUnsafeBytes { Array($0) }, values)
        case .f16:
            var halves = [UInt16](repeating: 0, count: values.count)
            kiln_float_to_half(values, values.count, &halves)
            return (halves.withUnsafeBytes { Array($0) }, halves.map(ImageElements.halfToFloat))
        case .bf16:
            let halves = values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            return (halves.withUnsafeBytes { Array($0) }, halves.map { Float(bitPattern: UInt32($0) << 16) })
        }
    }

    enum Layout: CaseIterable { case rowMajor, transposed }

    /// C = A · B for A [m×k] and B [k×n] stored in `layout` each; the first operand in `aType`, the
    /// second in `bType`. Checks the dispatching body and the portable body, and accumulation.
    func check(m: Int, n: Int, k: Int, aType: ImageElementType, bType: ImageElementType, aLayout: Layout, bLayout: Layout) {
        var random = TestRandom(UInt64(m * 7919 + n * 31 + k))
        let (aBytes, _) = Self.stored(random.values(m * k), as: aType)
        let (bBytes, _) = Self.stored(random.values(k * n), as: bType)
        let start = random.values(m * n)
        aBytes.withUnsafeBytes { aRaw in
            bBytes.withUnsafeBytes { bRaw in
                // Row-major [m×k] is (k, 1); stored transposed ([k×m]) it is (1, m).
                let a = aLayout == .rowMajor ? MatrixOperand(base: aRaw.baseAddress!, type: aType, rowStride: k, columnStride: 1)
                                             : MatrixOperand(base: aRaw.baseAddress!, type: aType, rowStride: 1, columnStride: m)
                let b = bLayout == .rowMajor ? MatrixOperand(base: bRaw.baseAddress!, type: bType, rowStride: n, columnStride: 1)
                                             : MatrixOperand(base: bRaw.baseAddress!, type: bType, rowStride: 1, columnStride: k)
                var expected = [Float](repeating: 0, count: m * n)
                ImageGEMM.referenceMultiply(a, b, into: &expected, m: m, n: n, k: k)
                let tolerance = 1e-5 * Float(max(k, 1)).squareRoot()
                var fast = [Float](repeating: .nan, count: m * n), portable = fast
                ImageGEMM.multiply(a, b, into: &fast, m: m, n: n, k: k)
                ImageGEMM.multiplyPortable(a, b, into: &portable, m: m, n: n, k: k)
                #expect(DiffusionFixtures.maxAbsDifference(fast, expected) < tolerance, "\(m)×\(n)×\(k) \(aType)/\(bType) \(aLayout)/\(bLayout)")
                #expect(DiffusionFixtures.maxAbsDifference(portable, expected) < tolerance, "portable \(m)×\(n)×\(k) \(aType)/\(bType)")
                var accumulated = start
                ImageGEMM.multiply(a, b, into: &accumulated, m: m, n: n, k: k, accumulate: true)
                let sums = zip(start, expected).map { $0 + $1 }
                #expect(DiffusionFixtures.maxAbsDifference(accumulated, sums) < tolerance)
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

    @Test(arguments: [ImageElementType.f16, .bf16])
    func halfWeightsAreWidenedInTheKernel(type: ImageElementType) {
        // Weights as either operand: conv weights are A (rows k-contiguous), linear weights B read transposed.
        check(m: 37, n: 70, k: 300, aType: type, bType: .f32, aLayout: .rowMajor, bLayout: .rowMajor)
        check(m: 130, n: 45, k: 90, aType: .f32, bType: type, aLayout: .rowMajor, bLayout: .transposed)
        check(m: 9, n: 29, k: 17, aType: type, bType: type, aLayout: .transposed, bLayout: .rowMajor)
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
                ImageGEMM.multiplyOnThisThread(MatrixOperand(ap.baseAddress!, rowStride: k), MatrixOperand(bp.baseAddress!, rowStride: n),
                                               into: &direct, m: m, n: n, k: k)
            }
        }
        #expect(viaPacked == direct)
    }

    @Test func wideProductCrossesTheColumnBlock() {
        // n > 2048 (the packed column block) and k > 256 (the depth block) at once.
        check(m: 7, n: 2100, k: 300, aType: .f16, bType: .f32, aLayout: .rowMajor, bLayout: .rowMajor)
    }

    @Test(arguments: [(3, 1, 0, 40, 30), (3, 2, 1, 80, 60), (1, 1, 0, 40, 30), (3, 1, 1, 28, 24), (3, 1, 1, 31, 27)])
    func convolutionInBandsMatchesReference(parameters: (Int, Int, Int, Int, Int)) {
        // About 40×30 outputs: over 512 pixels, so strided and unpadded 3×3 convolutions run in bands
        // of whole rows; 3×3 stride-1 padding-1 ones (168 and 224 tiles of 2×2, under 64 of 4×4)
        // take the F(2×2) Winograd path. F(4×4), with its larger error, is WinogradF4Tests' subject.
        let (kernel, stride, padding, height, width) = parameters
        let (inChannels, outChannels) = (3, 5)
        if kernel == 3 && stride == 1 && padding == 1 && WinogradF4Tests.defaultThresholds {
            #expect(conv(kernel, stride, padding).winogradTileSize(height: height, width: width) == 2)
        }
        let conv = ImageConv2D(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
        var random = TestRandom(UInt64(41 + kernel * 10 + stride))
        let input = random.values(inChannels * height * width), bias = random.values(outChannels)
        let (halfBytes, rounded) = Self.stored(random.values(outChannels * inChannels * kernel * kernel), as: .f16)
        let size = conv.outputSize(height: height, width: width)
        var fast = [Float](repeating: .nan, count: outChannels * size.height * size.width), slow = fast
        var scratch = [Float](repeating: .nan, count: max(conv.scratchCount(height: height, width: width), 1))
        halfBytes.withUnsafeBytes { raw in
            let weight = MatrixOperand(base: raw.baseAddress!, type: .f16, rowStride: inChannels * kernel * kernel)
            conv.apply(input: input, height: height, width: width, weight: weight, bias: bias, output: &fast, scratch: &scratch)
        }
        conv.referenceApply(input: input, height: height, width: width, weight: rounded, bias: bias, output: &slow)
        #expect(DiffusionFixtures.maxAbsDifference(fast, slow) < 1e-5)
    }

    func conv(_ kernel: Int, _ stride: Int, _ padding: Int) -> ImageConv2D {
        ImageConv2D(inChannels: 3, outChannels: 5, kernel: kernel, stride: stride, padding: padding)
    }

    @Test(arguments: [(100, 70, 2, 40, false), (77, 77, 3, 16, true), (5, 300, 1, 8, false), (100, 300, 2, 40, true),
                      (53, 517, 1, 40, false), (49, 61, 2, 12, false)])
    func attentionInRowBlocksMatchesReference(shape: (Int, Int, Int, Int, Bool)) {
        let (queries, keys, heads, headDim, causal) = shape
        var random = TestRandom(UInt64(queries * 100 + keys))
        let q = random.values(queries * heads * headDim), k = random.values(keys * heads * headDim), v = random.values(keys * heads * headDim)
        var fast = [Float](repeating: .nan, count: queries * heads * headDim), slow = fast
        var scratch = [Float](repeating: .nan, count: ImageAttention.scratchCount(queryCount: queries, keyCount: keys, heads: heads, headDim: headDim))
        ImageAttention.attend(query: q, key: k, value: v, output: &fast, queryCount: queries, keyCount: keys, heads: heads,
                              headDim: headDim, scale: 0.3, causal: causal, scratch: &scratch)
        ImageAttention.referenceAttend(query: q, key: k, value: v, output: &slow, queryCount: queries, keyCount: keys,
                                       heads: heads, headDim: headDim, scale: 0.3, causal: causal)
        #expect(DiffusionFixtures.maxAbsDifference(fast, slow) < 1e-5)
    }

    @Test(arguments: [(4, false), (8, true), (3, true)])
    func smallHeadKernelBothBodiesMatchReference(parameters: (Int, Bool)) {
        // One head, 21 queries over 29 keys (not a multiple of 8: the padded lanes must not count).
        let (dim, causal) = parameters
        let (queries, keys) = (causal ? 29 : 21, 29)
        let padded = (keys + 7) & ~7
        var random = TestRandom(UInt64(dim * 10 + (causal ? 1 : 0)))
        let q = random.values(queries * dim), k = random.values(keys * dim), v = random.values(keys * dim)
        var keysT = [Float](repeating: 0, count: dim * padded), valuesT = keysT
        for token in 0..<keys {
            for d in 0..<dim { keysT[d * padded + token] = k[token * dim + d]; valuesT[d * padded + token] = v[token * dim + d] }
        }
        var expected = [Float](repeating: 0, count: queries * dim)
        ImageAttention.referenceAttend(query: q, key: k, value: v, output: &expected, queryCount: queries, keyCount: keys,
                                       heads: 1, headDim: dim, scale: 0.8, causal: causal)
        var vector = [Float](repeating: .nan, count: queries * dim), portable = vector
        var scores = [Float](repeating: .nan, count: 2 * padded)
        kiln_attention_small_head(q, dim, Int32(queries), keysT, valuesT, padded, Int32(keys), Int32(dim), 0.8,
                                  causal ? 1 : -1, &scores, &vector, dim)
        kiln_attention_small_head_scalar(q, dim, Int32(queries), keysT, valuesT, padded, Int32(keys), Int32(dim), 0.8,
                                         causal ? 1 : -1, &scores, &portable, dim)
        #expect(DiffusionFixtures.maxAbsDifference(vector, expected) < 1e-5)
        #expect(DiffusionFixtures.maxAbsDifference(portable, expected) < 1e-5)
    }

    @Test func winogradTransformsMatchTheirPortableBodies() {
        // 37×41: rows of 21 tiles, of which the vector body takes eight at a time between the edges.
        let (channels, height, width) = (3, 37, 41)
        var random = TestRandom(101)
        let input = random.values(channels * height * width)
        let tiles = ((height + 1) / 2) * ((width + 1) / 2)
        var vector = [Float](repeating: .nan, count: 16 * channels * tiles), portable = vector
        let tileRows = Int32((height + 1) / 2)
        kiln_winograd_input(input, Int32(height), Int32(width), 0, tileRows, 0, Int32(channels), &vector, channels * tiles)
        kiln_winograd_input_scalar(input, Int32(height), Int32(width), 0, tileRows, 0, Int32(channels), &portable, channels * tiles)
        #expect(vector == portable)
        // A band of tile rows 3 ..< 7 is the same values as those rows of the whole.
        let bandTiles = 4 * ((width + 1) / 2)
        var band = [Float](repeating: .nan, count: 16 * channels * bandTiles)
        kiln_winograd_input(input, Int32(height), Int32(width), 3, 7, 0, Int32(channels), &band, channels * bandTiles)
        for element in [0, 5, 15] {
            for channel in 0..<channels {
                let whole = Array(vector[(element * channels * tiles + channel * tiles + 3 * ((width + 1) / 2))...].prefix(bandTiles))
                let part = Array(band[(element * channels * bandTiles + channel * bandTiles)...].prefix(bandTiles))
                #expect(whole == part)
            }
        }
        let (outChannels, inChannels) = (3, 11)
        let (halves, _) = Self.stored(random.values(outChannels * inChannels * 9), as: .f16)
        var fast = [Float](repeating: .nan, count: 16 * outChannels * inChannels), plain = fast
        halves.withUnsafeBytes { raw in
            kiln_winograd_weights(Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &fast, outChannels * inChannels)
            kiln_winograd_weights_scalar(Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &plain, outChannels * inChannels)
        }
        #expect(fast == plain)
    }

    @Test func elementwiseKernelsMatchTheirPortableBodies() {
        var random = TestRandom(77)
        // Unnormalized softmax with a scale: exp(scale·(x − max)) and the sum, against Double.
        let scores = random.values(203).map { $0 * 9 }
        var vector = scores, portable = scores
        let sum = kiln_softmax_unnormalized(&vector, 203, 0.4)
        let portableSum = kiln_softmax_unnormalized_scalar(&portable, 203, 0.4)
        let maximum = Double(scores.max()!)
        let expected = scores.map { Foundation.exp(0.4 * (Double($0) - maximum)) }
        #expect(abs(Double(sum) - expected.reduce(0, +)) < 1e-4 && abs(Double(portableSum) - expected.reduce(0, +)) < 1e-4)
        #expect(zip(vector, expected).allSatisfy { abs(Double($0) - $1) < 1e-6 })
        #expect(zip(portable, expected).allSatisfy { abs(Double($0) - $1) < 1e-6 })
        // Group norm's affine step fused with SiLU.
        let x = random.values(45).map { $0 * 6 }
        var y = [Float](repeating: 0, count: 45)
        kiln_affine_silu(x, &y, 45, 1.5, -0.25, 1)
        for (input, output) in zip(x, y) {
            let v = Double(input) * 1.5 - 0.25
            #expect(abs(Double(output) - v / (1 + Foundation.exp(-v))) < 1e-5)
        }
        // GEGLU with the vector erf against libm's erf in Double.
        let (rows, width) = (3, 21)
        let packed = random.values(rows * 2 * width).map { $0 * 4 }
        var gated = [Float](repeating: 0, count: rows * width), plain = gated
        kiln_geglu(packed, &gated, Int32(rows), Int32(width))
        kiln_geglu_scalar(packed, &plain, Int32(rows), Int32(width))
        for row in 0..<rows {
            for column in 0..<width {
                let value = Double(packed[row * 2 * width + column]), gate = Double(packed[row * 2 * width + width + column])
                let exact = value * 0.5 * gate * (1 + erf(gate / 2.0.squareRoot()))
                #expect(abs(Double(gated[row * width + column]) - exact) < 2e-6)
                #expect(abs(Double(plain[row * width + column]) - exact) < 2e-6)
            }
        }
    }
}
