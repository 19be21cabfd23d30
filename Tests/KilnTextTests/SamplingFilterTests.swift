import Foundation
import KilnText
import Testing

/// Top-k, top-p, min-p and typical-p: which tokens can be drawn, checked against direct
/// computations, and how often (a chi-square test against the expected distribution).
@Suite struct SamplingFilterTests {
    /// Draws `count` tokens and returns how often each id came up.
    private func histogram(_ logits: [Float], _ parameters: SamplingParameters, count: Int) throws -> [Int] {
        var sampler = try TokenSampler(parameters: parameters, vocabularySize: logits.count)
        let workspace = SamplingWorkspace(vocabularySize: logits.count)
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<count { counts[Int(try sampler.sample(logits: logits, workspace: workspace))] += 1 }
        return counts
    }

    private func logits(probabilities: [Double]) -> [Float] { probabilities.map { Float(Foundation.log($0)) } }

    /// Pearson's chi-square statistic of observed counts against expected probabilities
    /// (zero-probability entries must have zero counts).
    private func chiSquare(_ counts: [Int], _ expected: [Double]) -> Double {
        let total = Double(counts.reduce(0, +))
        var statistic = 0.0
        for (observed, probability) in zip(counts, expected) where probability > 0 {
            let mean = probability * total
            statistic += (Double(observed) - mean) * (Double(observed) - mean) / mean
        }
        return statistic
    }

    @Test func temperatureOneFollowsTheSoftmax() throws {
        let probabilities = [0.4, 0.3, 0.2, 0.1]
        let counts = try histogram(logits(probabilities: probabilities), SamplingParameters(seed: 1), count: 40_000)
        // 3 degrees of freedom: the 99.9th percentile is 16.27.
        #expect(chiSquare(counts, probabilities) < 16.27)
    }

    @Test func temperatureSharpensTheDistribution() throws {
        // At T = 0.5 probabilities become ∝ p², i.e. 16:9:4:1.
        let counts = try histogram(
            logits(probabilities: [0.4, 0.3, 0.2, 0.1]),
            SamplingParameters(temperature: 0.5, seed: 2), count: 40_000)
        #expect(chiSquare(counts, [16, 9, 4, 1].map { $0 / 30.0 }) < 16.27)
    }

    @Test func topKKeepsTheKBest() throws {
        let probabilities = [0.1, 0.35, 0.05, 0.3, 0.2]
        let counts = try histogram(logits(probabilities: probabilities), SamplingParameters(topK: 2, seed: 3), count: 20_000)
        #expect(counts[0] == 0 && counts[2] == 0 && counts[4] == 0)
        #expect(chiSquare(counts, [0, 0.35 / 0.65, 0, 0.3 / 0.65, 0]) < 10.83)  // 1 dof
        let one = try histogram(
            logits(probabilities: probabilities), SamplingParameters(temperature: 3, topK: 1, seed: 3),
            count: 200)
        #expect(one[1] == 200)
    }

    @Test func topPKeepsTheSmallestSufficientPrefix() throws {
        let probabilities = [0.15, 0.5, 0.05, 0.3]
        let base = logits(probabilities: probabilities)
        let eighty = try histogram(base, SamplingParameters(topP: 0.79, seed: 4), count: 10_000)
        #expect(eighty[0] == 0 && eighty[2] == 0 && eighty[1] > 0 && eighty[3] > 0)
        let more = try histogram(base, SamplingParameters(topP: 0.81, seed: 4), count: 10_000)
        #expect(more[2] == 0 && more[0] > 0)
    }

    @Test func topPOverALargeFlatVocabularyMatchesAFullSort() throws {
        // 20 000 tokens with slowly decreasing logits: the nucleus needs thousands of tokens,
        // which exercises the fallback past the first 256 and 4096 candidates.
        var generator = SeededRandomGenerator(seed: 5)
        let vocabulary = 20_000
        let values = (0..<vocabulary).map { _ in Float(generator.nextUnitDouble()) }
        let order = (0..<vocabulary).sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        let maximum = Double(values[order[0]])
        let total = values.reduce(0.0) { $0 + Foundation.exp(Double($1) - maximum) }
        var cumulative = 0.0
        var allowed = Set<Int>()
        for token in order {
            allowed.insert(token)
            cumulative += Foundation.exp(Double(values[token]) - maximum)
            if cumulative >= 0.6 * total { break }
        }
        #expect(allowed.count > 4096)
        let counts = try histogram(values, SamplingParameters(topP: 0.6, seed: 6), count: 3000)
        for (token, count) in counts.enumerated() where count > 0 {
            #expect(allowed.contains(token), "token \(token) is outside the nucleus")
        }
    }

    @Test func minPDropsTokensBelowTheRatioOfTheBest() throws {
        // Threshold 0.2 · 0.5 = 0.1: token 2 (0.05) goes, token 0 (0.15) stays.
        let counts = try histogram(
            logits(probabilities: [0.15, 0.5, 0.05, 0.3]),
            SamplingParameters(minP: 0.2, seed: 7), count: 20_000)
        #expect(counts[2] == 0)
        #expect(chiSquare(counts, [0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95]) < 13.82)  // 2 dof
    }

    @Test func typicalPKeepsTokensNearTheEntropy() throws {
        let probabilities = [0.6, 0.2, 0.1, 0.06, 0.04]
        // Reference: rank by |−ln p − H| and keep until the mass reaches 0.5.
        let entropy = -probabilities.reduce(0.0) { $0 + $1 * Foundation.log($1) }
        let ranked = probabilities.indices.sorted {
            abs(-Foundation.log(probabilities[$0]) - entropy) < abs(-Foundation.log(probabilities[$1]) - entropy)
        }
        var kept = Set<Int>()
        var mass = 0.0
        for token in ranked where mass < 0.5 {
            kept.insert(token)
            mass += probabilities[token]
        }
        let counts = try histogram(
            logits(probabilities: probabilities),
            SamplingParameters(typicalP: 0.5, seed: 8), count: 10_000)
        for token in probabilities.indices {
            #expect((counts[token] > 0) == kept.contains(token), "token \(token)")
        }
    }

    @Test func theSameSeedGivesTheSameTokensAndAnotherSeedDiffers() throws {
        var generator = SeededRandomGenerator(seed: 10)
        let values = (0..<1000).map { _ in Float(generator.nextUnitDouble() * 8) }
        let parameters = SamplingParameters(temperature: 0.9, topK: 50, topP: 0.95, minP: 0.01, seed: 1234)
        let first = try histogramSequence(values, parameters)
        let second = try histogramSequence(values, parameters)
        var reseeded = parameters
        reseeded.seed = 4321
        #expect(first == second)
        #expect(first != (try histogramSequence(values, reseeded)))
    }

    private func histogramSequence(_ logits: [Float], _ parameters: SamplingParameters) throws -> [Int32] {
        var sampler = try TokenSampler(parameters: parameters, vocabularySize: logits.count)
        let workspace = SamplingWorkspace(vocabularySize: logits.count)
        return try (0..<64).map { _ in try sampler.sample(logits: logits, workspace: workspace) }
    }
}
