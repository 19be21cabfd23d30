/// Log-probabilities of one generated position under the model's own distribution: the
/// log-softmax of the raw logits over the full vocabulary, before bias, penalties, filters and
/// temperature (what OpenAI's `logprobs` and llama.cpp's `n_probs` report).
public struct TokenLogProbabilities: Sendable, Equatable {
    /// One token and its natural-log probability.
    public struct Entry: Sendable, Equatable {
        public var token: Int32
        public var logProbability: Float
    }

    /// The token that was chosen, with its log-probability.
    public var chosen: Entry
    /// The most likely tokens, best first (lower id first on ties).
    public var top: [Entry]

    /// Computes the log-probability of `chosen` and of the `topCount` most likely tokens.
    ///
    /// log pᵢ = lᵢ − max − ln Σⱼ exp(lⱼ − max), summed in double precision.
    /// `workspace` supplies scratch memory; only the returned `top` array is allocated.
    public init(
        logits: UnsafeBufferPointer<Float>, chosen: Int32, topCount: Int,
        workspace: SamplingWorkspace
    ) throws {
        guard logits.count == workspace.vocabularySize else {
            throw SamplingError.logitCountMismatch(expected: workspace.vocabularySize, actual: logits.count)
        }
        guard chosen >= 0, Int(chosen) < logits.count else {
            throw SamplingError.invalidParameter(
                name: "token",
                reason: "id \(chosen) is outside the vocabulary")
        }
        let normalizer = Self.logNormalizer(logits)
        func logProbability(_ logit: Float) -> Float {
            logit.isNaN ? -.infinity : Float(Double(logit) - normalizer)
        }
        self.chosen = Entry(token: chosen, logProbability: logProbability(logits[Int(chosen)]))
        let count = max(0, min(topCount, logits.count))
        guard count > 0 else {
            top = []
            return
        }
        workspace.loadCandidates(from: logits)
        workspace.keepBest(count)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            entries.append(Entry(token: workspace.ids[index], logProbability: logProbability(workspace.logits[index])))
        }
        top = entries
    }

    /// max + ln Σ exp(lᵢ − max): subtracting it from a logit gives its log-probability.
    public static func logNormalizer(_ logits: UnsafeBufferPointer<Float>) -> Double {
        var maximum = -Float.infinity
        for logit in logits where logit > maximum { maximum = logit }
        guard maximum.isFinite else { return Double(maximum) }
        let shift = Double(maximum)
        var total = 0.0
        for logit in logits where !logit.isNaN {
            total += portableExponential(Double(logit) - shift)
        }
        return shift + portableLogarithm(total)
    }
}
