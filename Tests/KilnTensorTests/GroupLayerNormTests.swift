import Foundation
import KilnTensor
import Testing

/// `Normalization.groupNorm` (with and without the fused SiLU) and `Normalization.layerNorm`
/// against Double references.
@Suite struct GroupLayerNormTests {
    @Test func groupNormNormalizesEachGroup() {
        let (channels, pixels, groups) = (6, 10, 3)
        var random = TestRandom(9)
        let input = random.values(channels * pixels).map { $0 * 3 + 2 }
        let gamma = random.values(channels), beta = random.values(channels)
        var output = [Float](repeating: 0, count: input.count), fused = output
        Normalization.groupNorm(
            input, into: &output, channels: channels, pixels: pixels, groups: groups, epsilon: 1e-5, gamma: gamma, beta: beta,
            context: testKernels)
        Normalization.groupNorm(
            input, into: &fused, channels: channels, pixels: pixels, groups: groups, epsilon: 1e-5, gamma: gamma, beta: beta,
            silu: true, context: testKernels)
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
        Normalization.layerNorm(
            input, into: &output, rows: rows, width: width, epsilon: 1e-5, gamma: gamma, beta: beta,
            context: testKernels)
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
}
