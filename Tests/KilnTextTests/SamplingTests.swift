import Foundation
import KilnText
import Testing

/// Greedy choice, logit bias, penalties, validation and log-probabilities.
@Suite struct SamplingTests {
    private func sampleOnce(
        _ logits: [Float], _ parameters: SamplingParameters,
        history: [Int32] = []
    ) throws -> Int32 {
        var sampler = try TokenSampler(parameters: parameters, vocabularySize: logits.count)
        sampler.observe(history)
        return try sampler.sample(logits: logits, workspace: SamplingWorkspace(vocabularySize: logits.count))
    }

    @Test func greedyTakesTheLargestLogitAndTheLowestIdOnTies() throws {
        #expect(try sampleOnce([0.1, 3, -2, 2.9], .greedy) == 1)
        #expect(try sampleOnce([1, 5, 5, 4], .greedy) == 1)
        #expect(try sampleOnce([.nan, 1, 2, .nan], .greedy) == 2)
    }

    @Test func greedyDrawsNoRandomNumbers() throws {
        var sampler = try TokenSampler(parameters: .greedy, vocabularySize: 3)
        let before = sampler.generator
        _ = try sampler.sample(logits: [1, 2, 3], workspace: SamplingWorkspace(vocabularySize: 3))
        #expect(sampler.generator == before)
    }

    @Test func logitBiasShiftsAndBans() throws {
        #expect(try sampleOnce([1, 2, 3], SamplingParameters(temperature: 0, logitBias: [0: 2.5])) == 0)
        #expect(try sampleOnce([1, 2, 3], SamplingParameters(temperature: 0, logitBias: [2: -.infinity])) == 1)
        // A banned token is never drawn, even at a high temperature.
        var sampler = try TokenSampler(
            parameters: SamplingParameters(temperature: 5, logitBias: [1: -.infinity], seed: 9),
            vocabularySize: 3)
        let workspace = SamplingWorkspace(vocabularySize: 3)
        for _ in 0..<500 { #expect(try sampler.sample(logits: [0, 10, 0], workspace: workspace) != 1) }
    }

    /// `ignore_eos` as llama.cpp has it: the end-of-generation tokens banned over any bias the
    /// request gave them, on the greedy path (whether or not a ban hits the arg-max, with a mask
    /// or without) and on the random one.
    @Test func banningTokensOverridesTheirBiasOnEveryPath() throws {
        var parameters = SamplingParameters(temperature: 0, logitBias: [3: 50])
        parameters.ban([3, 1])
        #expect(parameters.logitBias == [3: -.infinity, 1: -.infinity])
        #expect(parameters.logitBiasOnlyBans)
        #expect(try sampleOnce([0, 9, 2, 8], parameters) == 2, "both banned tokens lead; the next best wins")
        #expect(try sampleOnce([0, 1, 5, 2], parameters) == 2, "a ban off the arg-max changes nothing")
        var masked = try TokenSampler(parameters: parameters, vocabularySize: 4)
        let allowed: [UInt64] = [0b1011]  // tokens 0, 1 and 3: with 1 and 3 banned, only 0 is left
        let chosen = try allowed.withUnsafeBufferPointer { mask in
            try [Float(0), 9, 7, 8].withUnsafeBufferPointer {
                try masked.sample(logits: $0, workspace: SamplingWorkspace(vocabularySize: 4), allowedTokens: mask)
            }
        }
        #expect(chosen == 0)
        var random = SamplingParameters(temperature: 2, seed: 3)
        random.ban([1])
        var sampler = try TokenSampler(parameters: random, vocabularySize: 3)
        let workspace = SamplingWorkspace(vocabularySize: 3)
        for _ in 0..<300 { #expect(try sampler.sample(logits: [0, 12, 0], workspace: workspace) != 1) }
        #expect(!SamplingParameters(temperature: 0, logitBias: [1: -.infinity, 2: 0.5]).logitBiasOnlyBans)
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() throws {
        // Token 0 (logit 4) seen: 4 / 2 = 2 < 3, so token 1 wins.
        let parameters = SamplingParameters(temperature: 0, repetitionPenalty: 2)
        #expect(try sampleOnce([4, 3, 0], parameters, history: [0]) == 1)
        // Negative logits get more negative: token 2 (−1) seen becomes −2 < −1.5.
        #expect(try sampleOnce([-3, -1.5, -1], parameters, history: [2]) == 1)
        // Outside the window the penalty is forgotten.
        let windowed = SamplingParameters(temperature: 0, repetitionPenalty: 2, penaltyWindow: 2)
        #expect(try sampleOnce([4, 3, 0], windowed, history: [0, 2, 2]) == 0)
    }

    @Test func presenceAndFrequencyPenaltiesSubtractPerTokenAndPerOccurrence() throws {
        // Token 0 seen three times: 5 − 3·1.0 = 2 < 2.5.
        let frequency = SamplingParameters(temperature: 0, frequencyPenalty: 1)
        #expect(try sampleOnce([5, 2.5, 0], frequency, history: [0, 0, 0]) == 1)
        #expect(try sampleOnce([5, 2.5, 0], frequency, history: [0, 0]) == 0)
        // Presence counts once however often: 5 − 2 = 3 > 2.5.
        let presence = SamplingParameters(temperature: 0, presencePenalty: 2)
        #expect(try sampleOnce([5, 2.5, 0], presence, history: [0, 0, 0]) == 0)
        #expect(try sampleOnce([5, 4, 0], presence, history: [0, 0, 0]) == 1)
    }

    @Test func penaltyCountsDoNotLeakIntoTheNextCall() throws {
        var sampler = try TokenSampler(
            parameters: SamplingParameters(temperature: 0, frequencyPenalty: 1),
            vocabularySize: 3)
        let workspace = SamplingWorkspace(vocabularySize: 3)
        sampler.observe([0])
        // 2 − 1 = 1 < 1.5 → token 1; then history is [0, 1]: 2 − 1 = 1, 1.5 − 1 = 0.5 → token 0.
        #expect(try sampler.sample(logits: [2, 1.5, 0], workspace: workspace) == 1)
        #expect(try sampler.sample(logits: [2, 1.5, 0], workspace: workspace) == 0)
    }

    @Test func invalidParametersAreRejectedByName() {
        func rejected(_ parameters: SamplingParameters, _ name: String) -> Bool {
            do {
                _ = try TokenSampler(parameters: parameters, vocabularySize: 10)
                return false
            } catch SamplingError.invalidParameter(let reported, _) {
                return reported == name
            } catch {
                return false
            }
        }
        #expect(rejected(SamplingParameters(temperature: -1), "temperature"))
        #expect(rejected(SamplingParameters(temperature: .nan), "temperature"))
        #expect(rejected(SamplingParameters(topK: -1), "top_k"))
        #expect(rejected(SamplingParameters(topP: 1.5), "top_p"))
        #expect(rejected(SamplingParameters(topP: 0), "top_p"))
        #expect(rejected(SamplingParameters(minP: -0.1), "min_p"))
        #expect(rejected(SamplingParameters(typicalP: .infinity), "typical_p"))
        #expect(rejected(SamplingParameters(repetitionPenalty: 0), "repeat_penalty"))
        #expect(rejected(SamplingParameters(presencePenalty: .nan), "presence_penalty"))
        #expect(rejected(SamplingParameters(frequencyPenalty: .infinity), "frequency_penalty"))
        #expect(rejected(SamplingParameters(penaltyWindow: -2), "penalty_window"))
        #expect(rejected(SamplingParameters(logitBias: [10: 1]), "logit_bias"))
        #expect(rejected(SamplingParameters(logitBias: [3: .nan]), "logit_bias"))
    }

    @Test func wrongLogitCountIsAnError() throws {
        var sampler = try TokenSampler(parameters: .greedy, vocabularySize: 4)
        #expect(throws: SamplingError.logitCountMismatch(expected: 4, actual: 3)) {
            try sampler.sample(logits: [1, 2, 3], workspace: SamplingWorkspace(vocabularySize: 4))
        }
    }

    @Test func logProbabilitiesAreTheLogSoftmaxOfTheRawLogits() throws {
        var generator = SeededRandomGenerator(seed: 11)
        let vocabulary = 5000
        let logits = (0..<vocabulary).map { _ in Float(generator.nextUnitDouble() * 20 - 10) }
        let workspace = SamplingWorkspace(vocabularySize: vocabulary)
        let result = try logits.withUnsafeBufferPointer {
            try TokenLogProbabilities(logits: $0, chosen: 17, topCount: 5, workspace: workspace)
        }
        // Straightforward reference in double precision with the platform's exp and log.
        let maximum = Double(logits.max()!)
        let logSum = maximum + Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - maximum) })
        let reference = logits.enumerated()
            .map { (token: Int32($0.offset), logProbability: Double($0.element) - logSum) }
            .sorted { $0.logProbability > $1.logProbability }
        #expect(result.chosen.token == 17)
        #expect(abs(Double(result.chosen.logProbability) - (Double(logits[17]) - logSum)) < 1e-5)
        #expect(result.top.map(\.token) == reference.prefix(5).map(\.token))
        for (entry, expected) in zip(result.top, reference) {
            #expect(abs(Double(entry.logProbability) - expected.logProbability) < 1e-5)
        }
    }
}
