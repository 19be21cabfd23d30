import Foundation
import KilnFormats
import KilnTensor
import Testing

/// Patchify / unpatchify and the 2-D sin-cos table against plain references and PyTorch's values.
@Suite struct PatchesTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dit/reference.safetensors")

    static func stored(_ name: String) throws -> [Float] {
        let file = try SafetensorsFile(path: fixture.path)
        let info = try #require(file.tensor(named: name))
        let bytes = file.data(of: info)
        return (0..<info.elementCount).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    @Test(arguments: [(3, 8, 12, 2), (3, 32, 32, 4), (5, 6, 6, 3), (2, 4, 4, 1)])
    func patchifyMatchesIndexFormula(shape: (Int, Int, Int, Int)) {
        let (channels, height, width, p) = shape
        var rng = SeededGenerator(seed: 11)
        let image = rng.floats(channels * height * width)
        var patches = [Float](repeating: .nan, count: image.count)
        Patches.patchify(image, into: &patches, channels: channels, height: height, width: width, patchSize: p)
        let columns = width / p
        for token in 0..<(height / p * columns) {
            for c in 0..<channels {
                for dy in 0..<p {
                    for dx in 0..<p {
                        let y = token / columns * p + dy, x = token % columns * p + dx
                        #expect(patches[token * channels * p * p + (c * p + dy) * p + dx] == image[(c * height + y) * width + x])
                    }
                }
            }
        }
    }

    /// patchify then a product with the flattened weight equals a stride-p convolution.
    @Test func patchEmbeddingEqualsStridedConvolution() {
        let (channels, height, width, p, out) = (3, 8, 12, 4, 5)
        var rng = SeededGenerator(seed: 12)
        let image = rng.floats(channels * height * width), weight = rng.floats(out * channels * p * p), bias = rng.floats(out)
        var patches = [Float](repeating: 0, count: image.count)
        Patches.patchify(image, into: &patches, channels: channels, height: height, width: width, patchSize: p)
        let tokens = height / p * (width / p)
        let convolution = Conv2D(inChannels: channels, outChannels: out, kernel: p, stride: p, padding: 0)
        var expected = [Float](repeating: 0, count: out * tokens)
        convolution.referenceApply(input: image, height: height, width: width, weight: weight, bias: bias, output: &expected)
        for token in 0..<tokens {
            for o in 0..<out {
                var sum = Double(bias[o])
                for k in 0..<(channels * p * p) { sum += Double(patches[token * channels * p * p + k]) * Double(weight[o * channels * p * p + k]) }
                #expect(abs(Float(sum) - expected[o * tokens + token]) < 1e-4)
            }
        }
    }

    /// diffusers' unpatchify: reshape [h, w, p, q, c] → einsum "hwpqc→chpwq".
    @Test(arguments: [(3, 8, 12, 2), (3, 32, 32, 4), (4, 9, 6, 3)])
    func unpatchifyMatchesEinsum(shape: (Int, Int, Int, Int)) {
        let (channels, height, width, p) = shape
        var rng = SeededGenerator(seed: 13)
        let patches = rng.floats(channels * height * width)
        var image = [Float](repeating: .nan, count: patches.count)
        Patches.unpatchify(patches, into: &image, channels: channels, height: height, width: width, patchSize: p)
        let (rows, columns) = (height / p, width / p)
        for h in 0..<rows {
            for w in 0..<columns {
                for dy in 0..<p {
                    for dx in 0..<p {
                        for c in 0..<channels {
                            let source = (((h * columns + w) * p + dy) * p + dx) * channels + c
                            #expect(image[(c * height + h * p + dy) * width + w * p + dx] == patches[source])
                        }
                    }
                }
            }
        }
    }

    @Test func sinCosPositionsMatchDiffusers() throws {
        let square = Patches.sinCosPositions(rows: 8, columns: 8, width: 32, baseSize: 8, interpolationScale: 1)
        let wide = Patches.sinCosPositions(rows: 4, columns: 6, width: 32, baseSize: 8, interpolationScale: 1)
        let errors = [
            zip(square, try Self.stored("pos_embed_8x8")).map { abs($0 - $1) }.max()!,
            zip(wide, try Self.stored("pos_embed_4x6")).map { abs($0 - $1) }.max()!,
        ]
        #expect(square.count == 64 * 32 && wide.count == 24 * 32)
        #expect(errors.allSatisfy { $0 < 1e-6 }, "\(errors)")
    }
}
