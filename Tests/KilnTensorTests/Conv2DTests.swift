import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// `Conv2D` against the direct six-deep Double loop: im2col in one band and in bands, Winograd
/// F(2×2, 3×3), and the F(2×2) transforms against their portable bodies (F(4×4): WinogradF4Tests).
@Suite struct Conv2DTests {
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0), (3, 1, 0), (1, 2, 0)])
    func convolutionMatchesReference(parameters: (Int, Int, Int)) {
        let (kernel, stride, padding) = parameters
        let conv = Conv2D(inChannels: 5, outChannels: 7, kernel: kernel, stride: stride, padding: padding)
        let (height, width) = (9, 6)
        var random = TestRandom(UInt64(kernel * 100 + stride * 10 + padding))
        let input = random.values(5 * height * width)
        let weight = random.values(7 * 5 * kernel * kernel), bias = random.values(7)
        let size = conv.outputSize(height: height, width: width)
        var fast = [Float](repeating: 0, count: 7 * size.height * size.width), slow = fast
        var scratch = [Float](repeating: .nan, count: conv.scratchCount(height: height, width: width, context: testKernels))
        conv.apply(input: input, height: height, width: width, weight: weight, bias: bias, output: &fast, scratch: &scratch, context: testKernels)
        conv.referenceApply(input: input, height: height, width: width, weight: weight, bias: bias, output: &slow)
        #expect(maxAbsDifference(fast, slow) < 1e-5)
        if stride == 2 && kernel == 3 && padding == 1 { #expect(size.height == 5 && size.width == 3) }
    }

    @Test(arguments: [(3, 1, 0, 40, 30), (3, 2, 1, 80, 60), (1, 1, 0, 40, 30), (3, 1, 1, 28, 24), (3, 1, 1, 31, 27)])
    func convolutionInBandsMatchesReference(parameters: (Int, Int, Int, Int, Int)) {
        // About 40×30 outputs: over 512 pixels, so strided and unpadded 3×3 convolutions run in bands
        // of whole rows; 3×3 stride-1 padding-1 ones (168 and 224 tiles of 2×2, under 64 of 4×4)
        // take the F(2×2) Winograd path. F(4×4), with its larger error, is WinogradF4Tests' subject.
        let (kernel, stride, padding, height, width) = parameters
        let (inChannels, outChannels) = (3, 5)
        if kernel == 3 && stride == 1 && padding == 1 {
            #expect(conv(kernel, stride, padding).winogradTileSize(height: height, width: width, settings: testKernels.settings) == 2)
        }
        let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
        var random = TestRandom(UInt64(41 + kernel * 10 + stride))
        let input = random.values(inChannels * height * width), bias = random.values(outChannels)
        let (halfBytes, rounded) = GEMMTests.stored(random.values(outChannels * inChannels * kernel * kernel), as: .f16)
        let size = conv.outputSize(height: height, width: width)
        var fast = [Float](repeating: .nan, count: outChannels * size.height * size.width), slow = fast
        var scratch = [Float](repeating: .nan, count: max(conv.scratchCount(height: height, width: width, context: testKernels), 1))
        halfBytes.withUnsafeBytes { raw in
            let weight = MatrixOperand(base: raw.baseAddress!, type: .f16, rowStride: inChannels * kernel * kernel)
            conv.apply(input: input, height: height, width: width, weight: weight, bias: bias, output: &fast, scratch: &scratch, context: testKernels)
        }
        conv.referenceApply(input: input, height: height, width: width, weight: rounded, bias: bias, output: &slow)
        #expect(maxAbsDifference(fast, slow) < 1e-5)
    }

    func conv(_ kernel: Int, _ stride: Int, _ padding: Int) -> Conv2D {
        Conv2D(inChannels: 3, outChannels: 5, kernel: kernel, stride: stride, padding: padding)
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
        let (halves, _) = GEMMTests.stored(random.values(outChannels * inChannels * 9), as: .f16)
        var fast = [Float](repeating: .nan, count: 16 * outChannels * inChannels), plain = fast
        halves.withUnsafeBytes { raw in
            kiln_winograd_weights(Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &fast, outChannels * inChannels)
            kiln_winograd_weights_scalar(
                Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &plain, outChannels * inChannels)
        }
        #expect(fast == plain)
    }
}
