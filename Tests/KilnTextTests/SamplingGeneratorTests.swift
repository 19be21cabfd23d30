import Foundation
import KilnText
import Testing

/// The seeded generator and the portable math that make sampling reproducible across machines.
/// Expected values come from an independent Python implementation of the documented algorithms
/// (SplitMix64 seeding, xoshiro256**, 53-bit unit conversion, inverse-CDF draw).
@Suite struct SamplingGeneratorTests {
    @Test func xoshiroStreamMatchesIndependentImplementation() {
        var zero = SeededRandomGenerator(seed: 0)
        #expect(zero.next() == 0x99EC_5F36_CB75_F2B4)
        #expect(zero.next() == 0xBF6E_1F78_4956_452A)
        #expect(zero.next() == 0x1A5F_849D_4933_E6E0)
        var other = SeededRandomGenerator(seed: 12345)
        #expect(other.next() == 13_720_838_825_685_603_483)
        #expect(other.next() == 2_398_916_695_208_396_998)
        #expect(other.next() == 17_770_384_849_984_869_256)
    }

    @Test func unitDoublesStayInRangeAndAverageOneHalf() {
        var generator = SeededRandomGenerator(seed: 7)
        var sum = 0.0
        let draws = 100_000
        for _ in 0..<draws {
            let value = generator.nextUnitDouble()
            #expect(value >= 0 && value < 1)
            sum += value
        }
        // The mean of n uniforms has standard deviation 1/√(12n) ≈ 0.0009; allow 5σ.
        #expect(abs(sum / Double(draws) - 0.5) < 0.0046)
    }

    @Test func seededTemperatureSamplingMatchesIndependentImplementation() throws {
        let logits: [Float] = [1.0, 2.0, 0.5, -1.0, 3.0, 2.5, 0.0, 1.5]
        var sampler = try TokenSampler(
            parameters: SamplingParameters(temperature: 0.7, seed: 42),
            vocabularySize: logits.count)
        let workspace = SamplingWorkspace(vocabularySize: logits.count)
        var tokens: [Int32] = []
        for _ in 0..<12 { tokens.append(try sampler.sample(logits: logits, workspace: workspace)) }
        #expect(tokens == [1, 4, 4, 5, 7, 5, 5, 5, 5, 4, 5, 4])
    }

    @Test func portableExponentialAgreesWithPlatformToAFewUlps() {
        var generator = SeededRandomGenerator(seed: 3)
        for _ in 0..<20_000 {
            let x = (generator.nextUnitDouble() - 0.9) * 800  // −720 … 80
            let expected = Foundation.exp(x)
            let actual = portableExponential(x)
            #expect(abs(actual - expected) <= max(4e-16 * expected, 1e-322), "exp(\(x))")  // subnormals: absolute
        }
        #expect(portableExponential(0) == 1)
        #expect(portableExponential(-.infinity) == 0)
        #expect(portableExponential(-800) == 0)
        #expect(portableExponential(800) == .infinity)
        #expect(portableExponential(.nan).isNaN)
    }

    @Test func portableLogarithmAgreesWithPlatformToAFewUlps() {
        var generator = SeededRandomGenerator(seed: 4)
        for _ in 0..<20_000 {
            let x = Foundation.exp((generator.nextUnitDouble() - 0.5) * 1400)
            let expected = Foundation.log(x)
            let actual = portableLogarithm(x)
            #expect(abs(actual - expected) <= 4e-16 * max(1, abs(expected)), "log(\(x))")
        }
        #expect(portableLogarithm(1) == 0)
        #expect(portableLogarithm(0) == -.infinity)
        #expect(portableLogarithm(-1).isNaN)
        #expect(abs(portableLogarithm(.leastNonzeroMagnitude) - Foundation.log(.leastNonzeroMagnitude)) < 1e-12)
    }
}
