import Testing
import Foundation
import KilnTensor
import KilnImage

/// Each optimized image kernel against its plain Double reference.
@Suite struct ImageKernelTests {
    @Test(arguments: [(1, 1, 1), (4, 4, 8), (5, 7, 3), (33, 17, 70), (64, 300, 288), (130, 9, 1152)])
    func gemmMatchesReference(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        var random = TestRandom(UInt64(m * 1000 + n * 10 + k))
        let a = random.values(m * k), b = random.values(n * k)
        var fast = [Float](repeating: 0, count: m * n), slow = fast
        ImageGEMM.multiplyTransposed(a, b, into: &fast, m: m, n: n, k: k)
        ImageGEMM.referenceMultiplyTransposed(a, b, into: &slow, m: m, n: n, k: k)
        #expect(DiffusionFixtures.maxAbsDifference(fast, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
        // Accumulating into zeros, and the portable body (what CPUs without AVX2 run).
        var accumulated = [Float](repeating: 0, count: m * n), portable = accumulated
        ImageGEMM.multiplyTransposed(a, b, into: &accumulated, m: m, n: n, k: k, accumulate: true)
        #expect(DiffusionFixtures.maxAbsDifference(accumulated, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                ImageGEMM.multiplyPortable(MatrixOperand(ap.baseAddress!, rowStride: k), MatrixOperand(bp.baseAddress!, rowStride: k).transposed,
                                           into: &portable, m: m, n: n, k: k)
            }
        }
        #expect(DiffusionFixtures.maxAbsDifference(portable, slow) < 1e-4 * Float(max(k, 1)).squareRoot())
    }

    @Test func gemmBiasesAndAccumulate() {
        var random = TestRandom(3)
        let (m, n, k) = (6, 5, 9)
        let a = random.values(m * k), b = random.values(n * k), rowBias = random.values(m), columnBias = random.values(n)
        var plain = [Float](repeating: 0, count: m * n)
        ImageGEMM.referenceMultiplyTransposed(a, b, into: &plain, m: m, n: n, k: k)
        var out = [Float](repeating: 1, count: m * n)
        ImageGEMM.multiplyTransposed(a, b, into: &out, m: m, n: n, k: k, columnBias: columnBias, rowBias: rowBias, accumulate: true)
        for i in 0..<m { for j in 0..<n {
            #expect(abs(out[i * n + j] - (1 + plain[i * n + j] + rowBias[i] + columnBias[j])) < 1e-5)
        } }
    }

    @Test(arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0), (3, 1, 0), (1, 2, 0)])
    func convolutionMatchesReference(parameters: (Int, Int, Int)) {
        let (kernel, stride, padding) = parameters
        let conv = ImageConv2D(inChannels: 5, outChannels: 7, kernel: kernel, stride: stride, padding: padding)
        let (height, width) = (9, 6)
        var random = TestRandom(UInt64(kernel * 100 + stride * 10 + padding))
        let input = random.values(5 * height * width)
        let weight = random.values(7 * 5 * kernel * kernel), bias = random.values(7)
        let size = conv.outputSize(height: height, width: width)
        var fast = [Float](repeating: 0, count: 7 * size.height * size.width), slow = fast
        var scratch = [Float](repeating: .nan, count: conv.scratchCount(height: height, width: width))
        conv.apply(input: input, height: height, width: width, weight: weight, bias: bias, output: &fast, scratch: &scratch)
        conv.referenceApply(input: input, height: height, width: width, weight: weight, bias: bias, output: &slow)
        #expect(DiffusionFixtures.maxAbsDifference(fast, slow) < 1e-5)
        if stride == 2 && kernel == 3 && padding == 1 { #expect(size.height == 5 && size.width == 3) }
    }

    @Test(arguments: [false, true])
    func attentionMatchesReference(causal: Bool) {
        let (queries, keys, heads, headDim) = (causal ? 19 : 13, causal ? 19 : 37, 3, 5)
        var random = TestRandom(causal ? 1 : 2)
        let q = random.values(queries * heads * headDim), k = random.values(keys * heads * headDim), v = random.values(keys * heads * headDim)
        var fast = [Float](repeating: 0, count: queries * heads * headDim), slow = fast
        var scratch = [Float](repeating: 0, count: ImageAttention.scratchCount(queryCount: queries, keyCount: keys, heads: heads, headDim: headDim))
        ImageAttention.attend(query: q, key: k, value: v, output: &fast, queryCount: queries, keyCount: keys, heads: heads,
                              headDim: headDim, scale: 0.7, causal: causal, scratch: &scratch)
        ImageAttention.referenceAttend(query: q, key: k, value: v, output: &slow, queryCount: queries, keyCount: keys,
                                       heads: heads, headDim: headDim, scale: 0.7, causal: causal)
        #expect(DiffusionFixtures.maxAbsDifference(fast, slow) < 1e-5)
    }

    @Test func groupNormNormalizesEachGroup() {
        let (channels, pixels, groups) = (6, 10, 3)
        var random = TestRandom(9)
        let input = random.values(channels * pixels).map { $0 * 3 + 2 }
        let gamma = random.values(channels), beta = random.values(channels)
        var output = [Float](repeating: 0, count: input.count), fused = output
        ImageNormalization.groupNorm(input, into: &output, channels: channels, pixels: pixels, groups: groups, epsilon: 1e-5, gamma: gamma, beta: beta)
        ImageNormalization.groupNorm(input, into: &fused, channels: channels, pixels: pixels, groups: groups, epsilon: 1e-5, gamma: gamma, beta: beta, silu: true)
        for group in 0..<groups {
            let slice = input[(group * 2 * pixels)..<((group + 1) * 2 * pixels)].map(Double.init)
            let mean = slice.reduce(0, +) / Double(slice.count)
            let variance = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(slice.count)
            for index in (group * 2 * pixels)..<((group + 1) * 2 * pixels) {
                let channel = index / pixels
                let expected = (Double(input[index]) - mean) / (variance + 1e-5).squareRoot() * Double(gamma[channel]) + Double(beta[channel])
                #expect(abs(Double(output[index]) - expected) < 1e-5)
                #expect(abs(Double(fused[index]) - expected / (1 + Foundation.exp(-expected))) < 1e-5)
            }
        }
    }

    @Test func layerNormNormalizesRows() {
        var random = TestRandom(4)
        let (rows, width) = (3, 17)
        let input = random.values(rows * width), gamma = random.values(width), beta = random.values(width)
        var output = [Float](repeating: 0, count: input.count)
        ImageNormalization.layerNorm(input, into: &output, rows: rows, width: width, epsilon: 1e-5, gamma: gamma, beta: beta)
        for row in 0..<rows {
            let x = input[(row * width)..<((row + 1) * width)].map(Double.init)
            let mean = x.reduce(0, +) / Double(width)
            let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            for column in 0..<width {
                let expected = (x[column] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[column]) + Double(beta[column])
                #expect(abs(Double(output[row * width + column]) - expected) < 1e-5)
            }
        }
    }

    @Test func upsampleRepeatsEachPixelTwice() {
        let input: [Float] = [1, 2, 3, 4, 5, 6] // 1 channel, 2×3
        var output = [Float](repeating: 0, count: 24)
        ImageResample.upsampleNearest2x(input, into: &output, channels: 1, height: 2, width: 3)
        #expect(output == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6])
    }

    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        for step in -1000...100 {
            let x = Float(step) * 0.0871
            let lanes = ImageMath.exp(SIMD8<Float>(repeating: x))
            worst = max(worst, abs(lanes[3] - expf(x)) / expf(x))
        }
        #expect(worst < 5e-7)
        #expect(ImageMath.exp(SIMD8<Float>(repeating: -200))[0] < 1e-37)
    }

    @Test func activationsMatchKnownValues() {
        // Values from the closed forms, computed in Python: 0.5·x·(1 + erf(x/√2)), x·σ(1.702x), x·σ(x).
        #expect(abs(ImageActivation.gelu(1) - 0.8413447460685429) < 1e-6)
        #expect(abs(ImageActivation.gelu(-2) - -0.04550026389635842) < 1e-6)
        #expect(abs(ImageActivation.quickGELU(1) - 0.8457957659328212) < 1e-6)
        #expect(abs(ImageActivation.silu(-1.5) - -0.2736382857095345) < 1e-6)
        let input: [Float] = [1, 2, 3, -1] // value half [1, 2], gate half [3, -1]
        var output = [Float](repeating: 0, count: 2)
        ImageActivation.geglu(input, into: &output, rows: 1, width: 2)
        #expect(abs(output[0] - 1 * ImageActivation.gelu(3)) < 1e-7 && abs(output[1] - 2 * ImageActivation.gelu(-1)) < 1e-7)
    }
}

extension ImageKernelTests {
    /// PyTorch's nearest resize: 3 → 5 picks source ⌊i·3/5⌋ = 0, 0, 1, 1, 2.
    @Test func nearestResizeFollowsPyTorch() {
        let input: [Float] = [1, 2, 3]
        var output = [Float](repeating: 0, count: 5)
        ImageResample.resizeNearest(input, into: &output, channels: 1, height: 1, width: 3, outHeight: 1, outWidth: 5)
        #expect(output == [1, 1, 2, 2, 3])
    }
}
