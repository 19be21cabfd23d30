import Foundation
import KilnTensor
import Testing

@Suite struct ElementwiseTests {
    @Test func rmsNormMatchesDefinition() {
        var rng = SeededGenerator(seed: 11)
        let count = 576, rows = 3
        let x = rng.floats(rows * count, scale: 3), w = rng.floats(count)
        var y = [Float](repeating: 0, count: rows * count)
        Normalization.rms(x, weight: w, count: count, rows: rows, epsilon: 1e-5, output: &y)
        for r in 0..<rows {
            let meanSquare = (0..<count).reduce(0.0) { $0 + Double(x[r * count + $1]) * Double(x[r * count + $1]) } / Double(count)
            let scale = 1 / (meanSquare + 1e-5).squareRoot()
            for i in 0..<count {
                let expected = Double(x[r * count + i]) * scale * Double(w[i])
                #expect(abs(Double(y[r * count + i]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
        }
    }

    @Test func softmaxSumsToOneAndHandlesMaskedEntries() {
        var x: [Float] = [1, 2, 3, -.infinity, 1000]
        Elementwise.softmax(&x, count: x.count)
        #expect(x[3] == 0)
        #expect(abs(x.reduce(0, +) - 1) < 1e-6)
        var y: [Float] = [0.5, -1.25, 2, 0]
        let expected = y.map { exp(Double($0)) }
        let total = expected.reduce(0, +)
        Elementwise.softmax(&y, count: y.count)
        for i in 0..<4 { #expect(abs(Double(y[i]) - expected[i] / total) < 1e-6) }
    }

    @Test func swigluAndSiluMatchDefinition() {
        var rng = SeededGenerator(seed: 5)
        let gate = rng.floats(1536, scale: 8), up = rng.floats(1536, scale: 2)
        var out = [Float](repeating: 0, count: 1536)
        Elementwise.swiglu(gate: gate, up: up, count: 1536, into: &out)
        var silu = gate
        Elementwise.silu(&silu, count: 1536)
        for i in 0..<1536 {
            let g = Double(gate[i])
            let expected = g / (1 + exp(-g))
            #expect(abs(Double(silu[i]) - expected) <= 1e-6 * max(1, abs(expected)))
            #expect(abs(Double(out[i]) - expected * Double(up[i])) <= 2e-6 * max(1, abs(expected * Double(up[i]))))
        }
    }

    @Test func residualAddAndHalfConversion() {
        let a: [Float] = [1, 2.5, -3], b: [Float] = [0.5, 0.25, 3]
        var sum = [Float](repeating: 0, count: 3)
        Elementwise.add(a, b, count: 3, into: &sum)
        #expect(sum == [1.5, 2.75, 0])
        let values: [Float] = [1, -2.5, 65504, 1e-8, 0.1]
        var halves = [UInt16](repeating: 0, count: 5)
        var back = [Float](repeating: 0, count: 5)
        Elementwise.convertToHalf(values, count: 5, into: &halves)
        Elementwise.convertFromHalf(halves, count: 5, into: &back)
        #expect(back[0] == 1 && back[1] == -2.5 && back[2] == 65504)
        #expect(abs(back[4] - 0.1) < 1e-4)
    }
}

@Suite struct RotaryEmbeddingTests {
    @Test(arguments: [RotaryEmbedding.Layout.normal, .neox])
    func rotatesPairsByPositionAngles(layout: RotaryEmbedding.Layout) {
        let headDimension = 64, heads = 3, position = 37
        let rope = RotaryEmbedding(layout: layout, dimensions: headDimension, base: 100_000)
        var rng = SeededGenerator(seed: 9)
        let original = rng.floats(heads * headDimension)
        var x = original
        rope.apply(to: &x, heads: heads, headDimension: headDimension, position: position)
        for h in 0..<heads {
            for i in 0..<headDimension / 2 {
                let (p, q) = layout == .normal ? (2 * i, 2 * i + 1) : (i, i + headDimension / 2)
                let theta = Double(position) * pow(100_000.0, -2.0 * Double(i) / Double(headDimension))
                let a = Double(original[h * headDimension + p]), b = Double(original[h * headDimension + q])
                #expect(abs(Double(x[h * headDimension + p]) - (a * cos(theta) - b * sin(theta))) < 1e-5)
                #expect(abs(Double(x[h * headDimension + q]) - (a * sin(theta) + b * cos(theta))) < 1e-5)
            }
        }
    }

    /// LongRoPE's attention factor scales the cosines and sines, hence the rotated elements.
    @Test func magnitudeScaleMultipliesTheRotation() {
        let plain = RotaryEmbedding(layout: .neox, dimensions: 16, base: 10_000, frequencyFactors: [Float](repeating: 1.5, count: 8))
        let scaled = RotaryEmbedding(
            layout: .neox, dimensions: 16, base: 10_000, frequencyFactors: [Float](repeating: 1.5, count: 8),
            magnitudeScale: 1.25)
        var rng = SeededGenerator(seed: 4)
        let original = rng.floats(24)
        var x = original, y = original
        plain.apply(to: &x, heads: 1, headDimension: 24, position: 9)
        scaled.apply(to: &y, heads: 1, headDimension: 24, position: 9)
        for i in 0..<16 { #expect(abs(y[i] - 1.25 * x[i]) < 1e-5) }
        #expect(Array(y[16...]) == Array(original[16...]))
    }

    @Test func positionZeroIsIdentityAndPartialRotationKeepsTail() {
        let rope = RotaryEmbedding(layout: .neox, dimensions: 32, base: 10_000)
        var rng = SeededGenerator(seed: 2)
        let original = rng.floats(64)
        var x = original
        rope.apply(to: &x, heads: 1, headDimension: 64, position: 0)
        #expect(x == original)
        rope.apply(to: &x, heads: 1, headDimension: 64, position: 5)
        #expect(Array(x[32...]) == Array(original[32...]))
        #expect(Array(x[..<32]) != Array(original[..<32]))
    }
}
