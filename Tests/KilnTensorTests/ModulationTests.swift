import Foundation
import KilnFormats
import KilnTensor
import Testing

/// adaLN modulation, gated residuals and GELU-tanh against double-precision references and PyTorch.
@Suite struct ModulationTests {
    @Test(arguments: [(1, 8), (5, 32), (64, 128), (3, 7)])
    func modulatedLayerNormMatchesReference(shape: (Int, Int)) {
        let (rows, width) = shape
        var rng = SeededGenerator(seed: UInt64(rows * 1000 + width))
        let input = rng.floats(rows * width, scale: 3).enumerated().map { $1 + Float($0 % 5) }  // non-zero means
        let shift = rng.floats(width), scale = rng.floats(width)
        var output = [Float](repeating: .nan, count: input.count)
        Modulation.modulatedLayerNorm(input, into: &output, rows: rows, width: width, epsilon: 1e-6, shift: shift, scale: scale)
        for row in 0..<rows {
            let x = input[(row * width)..<((row + 1) * width)].map(Double.init)
            let mean = x.reduce(0, +) / Double(width)
            let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            for i in 0..<width {
                let expected = (x[i] - mean) / (variance + 1e-6).squareRoot() * (1 + Double(scale[i])) + Double(shift[i])
                #expect(abs(Double(output[row * width + i]) - expected) < 1e-5)
            }
        }
    }

    @Test func addGatedMatchesReference() {
        let (rows, width) = (6, 20)
        var rng = SeededGenerator(seed: 3)
        let values = rng.floats(rows * width), gate = rng.floats(width), start = rng.floats(rows * width)
        var target = start
        Modulation.addGated(values, gate: gate, to: &target, rows: rows, width: width)
        for index in target.indices {
            #expect(target[index] == start[index] + gate[index % width] * values[index])
        }
    }

    /// Against torch.nn.functional.gelu(approximate="tanh") on [-6, 6] (Tests/Fixtures/dit).
    @Test func geluTanhMatchesPyTorch() throws {
        let input = try PatchesTests.stored("gelu_tanh_input"), expected = try PatchesTests.stored("gelu_tanh_output")
        #expect(input.count == 97)
        var values = input
        Activation.geluTanhInPlace(&values, count: values.count)
        let error = zip(values, expected).map { abs($0 - $1) }.max()!
        #expect(error < 1e-6, "\(error)")
        // It is the tanh form, not the erf one: they differ by ~1e-4 near |x| = 2.
        #expect(abs(Activation.geluTanh(2) - 1.9545977) < 1e-6)
    }

    /// The eight-lane path against the scalar formula, over the range activations reach and beyond
    /// (large |x| saturates to x or 0), with a count that leaves a scalar tail.
    @Test func vectorGeluTanhMatchesScalar() {
        let input = (0..<4003).map { Float($0 - 2001) * 0.01 } + [-90, -30, 30, 90, 0]
        var values = input
        Activation.geluTanhInPlace(&values, count: values.count)
        for (x, y) in zip(input, values) {
            let expected = Activation.geluTanh(x)
            #expect(abs(y - expected) <= 2e-6 * max(1, abs(expected)), "x = \(x): \(y) vs \(expected)")
        }
    }
}
