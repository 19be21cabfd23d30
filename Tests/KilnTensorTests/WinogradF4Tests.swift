import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// Winograd F(4×4, 3×3): the convolution through `Conv2D` against the direct Double sum on odd
/// map sizes (partial tiles at the right and bottom edges, padding on every side), several channel
/// counts, f16 and f32 weights; and each AVX2 transform against its portable body.
@Suite struct WinogradF4Tests {
    /// Max-abs error allowed against the Double reference, per unit of the output's largest magnitude.
    /// F(4×4)'s transforms multiply by up to 8 and 1/24, so its f32 error is ~10–20× F(2×2)'s; the
    /// measured worst case here is 6.9e-6 per unit (320 input channels; F(2×2) 3.7e-7).
    static let tolerance: Float = 2e-5

    // (in, out, height, width): all over the default 64 tiles of 4×4 (67×61 is 272, 33×31 is 72);
    // 320 input channels on 64×64 is the SD-1.5 UNet's first level at 512 px, 640 on 32×32 its
    // second; 67 and 61 leave partial tiles of 3 and 1 pixels.
    @Test(
        arguments: [
            (3, 5, 67, 61), (16, 9, 64, 70), (37, 20, 65, 66), (8, 64, 67, 61), (320, 8, 64, 64), (640, 8, 32, 32),
            (24, 7, 33, 31),
        ], [MatrixElementType.f16, .f32])
    func convolutionMatchesDirectSum(shape: (Int, Int, Int, Int), type: MatrixElementType) {
        let (inChannels, outChannels, height, width) = shape
        let conv = Conv2D(inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: 1, padding: 1)
        #expect(conv.winogradTileSize(height: height, width: width, settings: testKernels.settings) == 4)
        var random = TestRandom(UInt64(inChannels * 1000 + outChannels))
        let input = random.values(inChannels * height * width), bias = random.values(outChannels)
        // Weights scaled as a trained layer's (fan-in 9·in), so outputs are O(1) at every channel count.
        let scale = 1 / Float(9 * inChannels).squareRoot()
        let (bytes, rounded) = GEMMTests.stored(random.values(outChannels * inChannels * 9).map { $0 * scale }, as: type)
        var fast = [Float](repeating: .nan, count: outChannels * height * width), slow = fast
        var scratch = [Float](repeating: .nan, count: conv.scratchCount(height: height, width: width, context: testKernels))
        bytes.withUnsafeBytes { raw in
            let weight = MatrixOperand(base: raw.baseAddress!, type: type, rowStride: inChannels * 9)
            conv.apply(input: input, height: height, width: width, weight: weight, bias: bias, output: &fast, scratch: &scratch, context: testKernels)
        }
        conv.referenceApply(input: input, height: height, width: width, weight: rounded, bias: bias, output: &slow)
        let magnitude = max(1, slow.map(abs).max() ?? 0)
        let error = maxAbsDifference(fast, slow)
        let tile = conv.winogradTileSize(height: height, width: width, settings: testKernels.settings).map { "F(\($0)×\($0), 3×3)" } ?? "im2col"
        print("\(tile) \(inChannels)→\(outChannels) \(height)×\(width) \(type): max-abs \(error) of \(magnitude)")
        #expect(!fast.contains { $0.isNaN })
        #expect(error <= Self.tolerance * magnitude)
    }

    @Test func transformsMatchTheirPortableBodies() {
        // 29×75: rows of 19 tiles (two groups of eight, then three alone), a last tile row of one pixel.
        let (channels, height, width) = (3, 29, 75)
        let tilesX = (width + 3) / 4, tileRows = (height + 3) / 4, tiles = tilesX * tileRows
        var random = TestRandom(202)
        let input = random.values(channels * height * width)
        var vector = [Float](repeating: .nan, count: 36 * channels * tiles), portable = vector
        kiln_winograd4_input(input, Int32(height), Int32(width), 0, Int32(tileRows), 0, Int32(channels), &vector, channels * tiles)
        kiln_winograd4_input_scalar(input, Int32(height), Int32(width), 0, Int32(tileRows), 0, Int32(channels), &portable, channels * tiles)
        #expect(maxAbsDifference(vector, portable) <= 1e-5)
        #expect(!vector.contains { $0.isNaN })
        // A band of tile rows 2 ..< 5 is the same values as those rows of the whole.
        let bandTiles = 3 * tilesX
        var band = [Float](repeating: .nan, count: 36 * channels * bandTiles)
        kiln_winograd4_input(input, Int32(height), Int32(width), 2, 5, 0, Int32(channels), &band, channels * bandTiles)
        for element in [0, 7, 35] {
            for channel in 0..<channels {
                let whole = Array(vector[(element * channels * tiles + channel * tiles + 2 * tilesX)...].prefix(bandTiles))
                let part = Array(band[(element * channels * bandTiles + channel * bandTiles)...].prefix(bandTiles))
                #expect(whole == part)
            }
        }
        // Weights: f16 (the F16C body eight input channels at a time, then three alone) against portable.
        let (outChannels, inChannels) = (3, 11)
        let (halves, _) = GEMMTests.stored(random.values(outChannels * inChannels * 9), as: .f16)
        var fast = [Float](repeating: .nan, count: 36 * outChannels * inChannels), plain = fast
        halves.withUnsafeBytes { raw in
            kiln_winograd4_weights(Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &fast, outChannels * inChannels)
            kiln_winograd4_weights_scalar(
                Int32(KILN_TYPE_F16), raw.baseAddress!, Int32(inChannels), 0, Int32(outChannels), &plain, outChannels * inChannels)
        }
        #expect(maxAbsDifference(fast, plain) <= 1e-6)
        // Output: products [36][2][tiles] into two channels of the map, with a bias.
        let products = random.values(36 * 2 * tiles), bias: [Float] = [0.5, -1.25]
        var vectorOut = [Float](repeating: .nan, count: 2 * height * width), portableOut = vectorOut
        kiln_winograd4_output(products, 2 * tiles, 0, 2, Int32(height), Int32(width), 0, Int32(tileRows), bias, &vectorOut)
        kiln_winograd4_output_scalar(products, 2 * tiles, 0, 2, Int32(height), Int32(width), 0, Int32(tileRows), bias, &portableOut)
        #expect(!vectorOut.contains { $0.isNaN })
        #expect(maxAbsDifference(vectorOut, portableOut) <= 1e-5)
    }
}
