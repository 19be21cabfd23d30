/// Chooses tokens for one sequence: its parameters, its seeded generator and its recent-token
/// history. The scheduler keeps one per running sequence; the vocabulary-sized scratch memory
/// lives in a shared `SamplingWorkspace`, so a sampler is small and sampling allocates nothing.
///
/// Reproducibility: greedy choices draw no random numbers; every other choice draws exactly one
/// `nextUnitDouble()` from a `SeededRandomGenerator`. Weights are exp((logit − max) / T) from
/// `portableUnitExponential` (IEEE single-precision basic operations only), summed in double
/// precision in a fixed order over candidates in a fixed order, and the draw picks the first
/// candidate whose running sum exceeds u·Σ. A seed therefore gives the same tokens on every
/// machine for the same logits.
public struct TokenSampler: Sendable {
    /// The parameters this sampler was built with (already validated).
    public let parameters: SamplingParameters
    /// The generator; its state advances by one draw per non-greedy token.
    public private(set) var generator: SeededRandomGenerator
    /// Recent tokens seen by the penalties (prompt and generated).
    public private(set) var history: TokenHistory
    /// The vocabulary size the logits must have.
    public let vocabularySize: Int

    /// Validates `parameters` and seeds the generator with `parameters.seed ?? defaultSeed`.
    public init(parameters: SamplingParameters, vocabularySize: Int, defaultSeed: UInt64 = 0) throws {
        try parameters.validate(vocabularySize: vocabularySize)
        self.parameters = parameters
        self.vocabularySize = vocabularySize
        generator = SeededRandomGenerator(seed: parameters.seed ?? defaultSeed)
        history = TokenHistory(capacity: parameters.hasPenalties ? parameters.penaltyWindow : 0)
    }

    /// Records tokens the penalties should see, such as the prompt; `sample` records its own
    /// choices.
    public mutating func observe<S: Sequence>(_ tokens: S) where S.Element == Int32 {
        for token in tokens { history.append(token) }
    }

    /// Chooses the next token from one row of logits (`vocabularySize` values) and records it
    /// in the history.
    ///
    /// `allowedTokens`, when given, is a bit mask over the vocabulary (token i allowed when bit
    /// i % 64 of word i / 64 is set; `TokenMask.wordCount(vocabularySize:)` words), such as a
    /// grammar's: only allowed tokens can be chosen. It applies before every filter (top-k,
    /// typical, top-p, min-p), so those filters rank the allowed tokens only, and it draws the
    /// same single random number as an unmasked choice, so seeds stay reproducible.
    public mutating func sample(
        logits: UnsafeBufferPointer<Float>,
        workspace: SamplingWorkspace,
        allowedTokens: UnsafeBufferPointer<UInt64>? = nil
    ) throws -> Int32 {
        guard logits.count == vocabularySize, workspace.vocabularySize == vocabularySize else {
            throw SamplingError.logitCountMismatch(expected: vocabularySize, actual: logits.count)
        }
        if let allowedTokens, allowedTokens.count != TokenMask.wordCount(vocabularySize: vocabularySize) {
            throw SamplingError.invalidTokenMask(
                reason: "\(allowedTokens.count) words for \(vocabularySize) tokens; expected \(TokenMask.wordCount(vocabularySize: vocabularySize))")
        }
        if parameters.isGreedy, !parameters.hasPenalties, parameters.logitBias.isEmpty || parameters.logitBiasOnlyBans {
            let chosen: Int32
            if let allowedTokens {
                guard let best = Self.argmax(logits, allowed: allowedTokens) else {
                    throw SamplingError.invalidTokenMask(reason: "it allows no token")
                }
                chosen = best
            } else {
                chosen = Self.argmax(logits)
            }
            // Bans alone (`ignore_eos`) change the choice only when they hit the arg-max.
            if parameters.logitBias[chosen] == nil {
                history.append(chosen)
                return chosen
            }
        }
        workspace.loadCandidates(from: logits)
        applyLogitBias(workspace)
        applyPenalties(workspace)
        if let allowedTokens {
            // After the adjustments, which index the candidates by token id.
            workspace.keepAllowed(allowedTokens)
            guard workspace.candidateCount > 0 else { throw SamplingError.invalidTokenMask(reason: "it allows no token") }
        }
        let chosen = parameters.isGreedy ? chooseGreedily(workspace) : chooseRandomly(workspace)
        history.append(chosen)
        return chosen
    }

    /// `sample` over a Swift array, for callers outside the hot loop.
    public mutating func sample(logits: [Float], workspace: SamplingWorkspace) throws -> Int32 {
        try logits.withUnsafeBufferPointer { try sample(logits: $0, workspace: workspace) }
    }

    // MARK: - Adjustments (candidates are still in token-id order here)

    private func applyLogitBias(_ workspace: SamplingWorkspace) {
        for (token, bias) in parameters.logitBias {
            workspace.logits[Int(token)] += bias
        }
    }

    private func applyPenalties(_ workspace: SamplingWorkspace) {
        guard parameters.hasPenalties, history.count > 0 else { return }
        let counts = workspace.occurrenceCounts
        var distinct = 0
        history.forEach { token in
            let index = Int(token)
            guard index >= 0, index < vocabularySize else { return }
            if counts[index] == 0 {
                workspace.countedTokens[distinct] = token
                distinct += 1
            }
            counts[index] += 1
        }
        let repetition = parameters.repetitionPenalty
        for slot in 0..<distinct {
            let index = Int(workspace.countedTokens[slot])
            var logit = workspace.logits[index]
            logit = logit > 0 ? logit / repetition : logit * repetition
            logit -= Float(counts[index]) * parameters.frequencyPenalty + parameters.presencePenalty
            workspace.logits[index] = logit
            counts[index] = 0
        }
    }

    // MARK: - Choices

    /// The index of the largest logit (the lowest on ties; NaN never wins unless all are NaN).
    static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var bestIndex = 0
        var best = -Float.infinity
        for index in 0..<logits.count where logits[index] > best {
            best = logits[index]
            bestIndex = index
        }
        return Int32(truncatingIfNeeded: bestIndex)
    }

    /// The allowed token with the largest logit (the lowest id on ties; NaN never wins unless all
    /// allowed logits are NaN), or nil when the mask allows none. Visits only the set bits.
    static func argmax(_ logits: UnsafeBufferPointer<Float>, allowed: UnsafeBufferPointer<UInt64>) -> Int32? {
        var bestIndex = -1
        var best = -Float.infinity
        for (wordIndex, word) in allowed.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let index = wordIndex * 64 + bits.trailingZeroBitCount
                bits &= bits - 1
                guard index < logits.count else { break }
                let logit = logits[index]
                if bestIndex < 0 || logit > best {
                    best = logit.isNaN ? -.infinity : logit
                    bestIndex = index
                }
            }
        }
        return bestIndex < 0 ? nil : Int32(truncatingIfNeeded: bestIndex)
    }

    private func chooseGreedily(_ workspace: SamplingWorkspace) -> Int32 {
        var best = 0
        for index in 1..<workspace.candidateCount where workspace.ranksBefore(index, best) {
            best = index
        }
        return workspace.ids[best]
    }

    private mutating func chooseRandomly(_ workspace: SamplingWorkspace) -> Int32 {
        if parameters.topK > 0 { workspace.keepBest(parameters.topK) }
        if parameters.typicalP < 1 { CandidateFilters.keepTypical(workspace, mass: Double(parameters.typicalP)) }
        if parameters.topP < 1 { CandidateFilters.keepNucleus(workspace, mass: Double(parameters.topP)) }
        if parameters.minP > 0 { CandidateFilters.keepAboveMinimum(workspace, ratio: parameters.minP) }
        return draw(workspace)
    }

    /// Draws from the live candidates with probabilities ∝ exp((logit − max) / temperature),
    /// scanning them in their current (deterministic) order: the first candidate whose running
    /// weight exceeds u·Σ, with u = `nextUnitDouble()`.
    private mutating func draw(_ workspace: SamplingWorkspace) -> Int32 {
        let ids = workspace.ids, logits = workspace.logits, weights = workspace.weights
        let maximum = workspace.maximumLogit()
        guard maximum > -.infinity else {
            // Every token was banned: fall back to the first rather than failing the request.
            return ids[0]
        }
        if maximum == .infinity {
            // A +∞ logit is certain; take the first such candidate.
            for index in 0..<workspace.candidateCount where logits[index] == .infinity {
                return ids[index]
            }
        }
        let total = workspace.computeWeights(maximum: maximum, inverseTemperature: 1 / parameters.temperature)
        let target = generator.nextUnitDouble() * total
        var cumulative = 0.0
        var lastPossible = ids[0]
        for index in 0..<workspace.candidateCount where weights[index] > 0 {
            cumulative += Double(weights[index])
            lastPossible = ids[index]
            if cumulative > target { return lastPossible }
        }
        return lastPossible
    }
}
