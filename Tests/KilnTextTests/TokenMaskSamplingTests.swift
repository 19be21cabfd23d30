import Foundation
import KilnText
import Testing

/// The allowed-token mask a grammar hands the sampler: only allowed tokens are ever chosen, and a
/// mask means exactly what banning every other token by a −∞ logit bias means, draw for draw.
@Suite struct TokenMaskSamplingTests {
    /// Deterministic pseudo-random logits in −4…4.
    static func logits(count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(state % 8001) / 1000 - 4
        }
    }

    static func sample(_ sampler: inout TokenSampler, _ logits: [Float], _ mask: TokenMask, _ workspace: SamplingWorkspace) throws -> Int32 {
        try mask.withUnsafeWords { words in
            try logits.withUnsafeBufferPointer { try sampler.sample(logits: $0, workspace: workspace, allowedTokens: words) }
        }
    }

    @Test func maskCountsAndClearsTheBitsPastTheVocabulary() {
        var mask = TokenMask(vocabularySize: 130, allowingAll: true)
        #expect(mask.words.count == 3)
        #expect(mask.count == 130)
        #expect(mask.words[2] == 0b11)
        mask.remove(129)
        #expect(!mask.contains(129) && mask.contains(128) && !mask.contains(130) && !mask.contains(-1))
        let some = TokenMask(vocabularySize: 130, allowing: [3, 64, 127] as [Int32])
        #expect(some.count == 3 && some.contains(64) && !some.contains(65))
    }

    @Test func greedyTakesTheBestAllowedToken() throws {
        let logits: [Float] = (0..<130).map { Float($0 % 50) }
        var sampler = try TokenSampler(parameters: .greedy, vocabularySize: 130)
        let workspace = SamplingWorkspace(vocabularySize: 130)
        let mask = TokenMask(vocabularySize: 130, allowing: [3, 64, 129] as [Int32])  // logits 3, 14, 29
        let chosen = try Self.sample(&sampler, logits, mask, workspace)
        #expect(chosen == 129)
        // NaN never wins over a number, and ties go to the lowest id, as without a mask.
        var nanLogits = logits
        nanLogits[3] = .nan
        let tie = TokenMask(vocabularySize: 130, allowing: [3, 10, 60] as [Int32])  // NaN, 10, 10
        let tied = try Self.sample(&sampler, nanLogits, tie, workspace)
        #expect(tied == 10)
    }

    /// The filters that keep the candidates' order (top-p and typical-p reorder them by
    /// quickselect, so there the same draw can land on another token: `nucleusIsTakenOverTheAllowedTokens`).
    @Test(arguments: [
        SamplingParameters(temperature: 1.3, seed: 1),
        SamplingParameters(temperature: 0.7, topK: 5, seed: 2),
        SamplingParameters(temperature: 1, minP: 0.1, seed: 4),
        SamplingParameters(temperature: 0.9, topK: 40, minP: 0.02, seed: 5),
        SamplingParameters(temperature: 0, repetitionPenalty: 1.3, seed: 6),
        SamplingParameters(temperature: 1, repetitionPenalty: 1.2, presencePenalty: 0.5, seed: 7),
    ])
    func maskingIsBanningEveryOtherTokenDrawForDraw(parameters: SamplingParameters) throws {
        let vocabulary = 300
        let workspace = SamplingWorkspace(vocabularySize: vocabulary)
        let mask = TokenMask(vocabularySize: vocabulary, allowing: (0..<vocabulary).filter { $0 % 3 == 1 }.map { Int32($0) })
        // The reference: the same parameters and seed, every other token banned by a −∞ bias. Both
        // samplers draw in lockstep, so equal choices keep their generators and histories equal.
        var banning = parameters
        for token in 0..<vocabulary where !mask.contains(Int32(token)) { banning.logitBias[Int32(token)] = -.infinity }
        var reference = try TokenSampler(parameters: banning, vocabularySize: vocabulary)
        var masked = try TokenSampler(parameters: parameters, vocabularySize: vocabulary)
        for step in 0..<300 {
            let logits = Self.logits(count: vocabulary, seed: UInt64(step))
            let expected = try reference.sample(logits: logits, workspace: workspace)
            let chosen = try Self.sample(&masked, logits, mask, workspace)
            #expect(mask.contains(chosen))
            try #require(chosen == expected, "step \(step)")
        }
    }

    /// Top-p ranks the allowed tokens only: every choice lies in the nucleus computed over them.
    @Test func nucleusIsTakenOverTheAllowedTokens() throws {
        let vocabulary = 300
        let workspace = SamplingWorkspace(vocabularySize: vocabulary)
        var sampler = try TokenSampler(parameters: SamplingParameters(temperature: 1, topP: 0.5, seed: 3), vocabularySize: vocabulary)
        let allowed = (0..<vocabulary).filter { $0 % 3 == 1 }
        let mask = TokenMask(vocabularySize: vocabulary, allowing: allowed.map { Int32($0) })
        var seen = Set<Int32>()
        for step in 0..<300 {
            let logits = Self.logits(count: vocabulary, seed: UInt64(step % 10))
            // The nucleus: the best allowed tokens whose probability (over the allowed) reaches 0.5.
            let ranked = allowed.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            let weights = ranked.map { exp(Double(logits[$0] - logits[ranked[0]])) }
            let total = weights.reduce(0, +)
            var nucleus = Set<Int32>(), mass = 0.0
            for (token, weight) in zip(ranked, weights) where mass < 0.5 * total {
                nucleus.insert(Int32(token))
                mass += weight
            }
            let chosen = try Self.sample(&sampler, logits, mask, workspace)
            #expect(nucleus.contains(chosen), "step \(step): \(chosen) outside the nucleus \(nucleus.sorted())")
            seen.insert(chosen)
        }
        // Not stuck on one token: the draws spread over the nuclei.
        #expect(seen.count > 5)
    }

    @Test func aSingleAllowedTokenIsChosenWhateverItsLogit() throws {
        var sampler = try TokenSampler(parameters: SamplingParameters(temperature: 2, topK: 3, seed: 11), vocabularySize: 300)
        let workspace = SamplingWorkspace(vocabularySize: 300)
        for step in 0..<50 {
            let logits = Self.logits(count: 300, seed: UInt64(step))
            let only = Int32(step * 5)
            let mask = TokenMask(vocabularySize: 300, allowing: [only])
            let chosen = try Self.sample(&sampler, logits, mask, workspace)
            #expect(chosen == only)
        }
    }

    @Test func aMaskOfTheWrongSizeOrAllowingNothingIsAnError() throws {
        var sampler = try TokenSampler(parameters: SamplingParameters(temperature: 1, seed: 1), vocabularySize: 100)
        let workspace = SamplingWorkspace(vocabularySize: 100)
        let logits = [Float](repeating: 0, count: 100)
        let short = [UInt64](repeating: ~0, count: 1)
        #expect(throws: SamplingError.self) {
            try short.withUnsafeBufferPointer { mask in
                try logits.withUnsafeBufferPointer { try sampler.sample(logits: $0, workspace: workspace, allowedTokens: mask) }
            }
        }
        let none = TokenMask(vocabularySize: 100)
        #expect(throws: SamplingError.invalidTokenMask(reason: "it allows no token")) {
            try none.withUnsafeWords { mask in
                try logits.withUnsafeBufferPointer { try sampler.sample(logits: $0, workspace: workspace, allowedTokens: mask) }
            }
        }
        var greedy = try TokenSampler(parameters: .greedy, vocabularySize: 100)
        #expect(throws: SamplingError.invalidTokenMask(reason: "it allows no token")) {
            try none.withUnsafeWords { mask in
                try logits.withUnsafeBufferPointer { try greedy.sample(logits: $0, workspace: workspace, allowedTokens: mask) }
            }
        }
    }
}
