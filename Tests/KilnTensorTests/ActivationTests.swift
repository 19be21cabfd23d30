import CKilnKernels
import Foundation
import KilnTensor
import Testing

/// The float models' activations, `Elementwise.portableExp`, and the C elementwise kernels
/// (unnormalized softmax, affine + SiLU, GEGLU) against their portable bodies and Double.
@Suite struct ActivationTests {
    @Test func activationsMatchKnownValues() {
        // Values from the closed forms, computed in Python: 0.5·x·(1 + erf(x/√2)), x·σ(1.702x), x·σ(x).
        #expect(abs(Activation.gelu(1) - 0.8413447460685429) < 1e-6)
        #expect(abs(Activation.gelu(-2) - -0.04550026389635842) < 1e-6)
        #expect(abs(Activation.quickGELU(1) - 0.8457957659328212) < 1e-6)
        #expect(abs(Activation.silu(-1.5) - -0.2736382857095345) < 1e-6)
        let input: [Float] = [1, 2, 3, -1]  // value half [1, 2], gate half [3, -1]
        var output = [Float](repeating: 0, count: 2)
        Activation.geglu(input, into: &output, rows: 1, width: 2, context: testKernels)
        #expect(abs(output[0] - 1 * Activation.gelu(3)) < 1e-7 && abs(output[1] - 2 * Activation.gelu(-1)) < 1e-7)
    }

    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        for step in -1000...100 {
            let x = Float(step) * 0.0871
            worst = max(worst, abs(Elementwise.portableExp(x) - expf(x)) / expf(x))
        }
        #expect(worst < 5e-7)
        #expect(Elementwise.portableExp(-200) < 1e-37)
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
        // GELU-tanh: both bodies against the tanh form in Double.
        let wide = random.values(203).map { $0 * 7 }
        var vectorGelu = wide, portableGelu = wide
        kiln_gelu_tanh(&vectorGelu, 203)
        kiln_gelu_tanh_scalar(&portableGelu, 203)
        for (index, x) in wide.enumerated() {
            let v = Double(x), exact = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            #expect(abs(Double(vectorGelu[index]) - exact) < 2e-6 && abs(Double(portableGelu[index]) - exact) < 2e-6, "x = \(x)")
        }
        // GELU (erf form): both bodies against libm's erf in Double.
        var vectorErfGelu = wide, portableErfGelu = wide
        kiln_gelu(&vectorErfGelu, 203)
        kiln_gelu_scalar(&portableErfGelu, 203)
        for (index, x) in wide.enumerated() {
            let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            #expect(abs(Double(vectorErfGelu[index]) - exact) < 2e-6 && abs(Double(portableErfGelu[index]) - exact) < 2e-6, "x = \(x)")
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
