/// The probability-mass filters of the sampling chain. Each narrows the live candidates of a
/// `SamplingWorkspace` in place and always keeps at least one. Probabilities are computed at
/// temperature 1 (llama.cpp applies temperature after the filters) from the weights
/// exp(logit − max), with sums in double precision in a fixed order.
enum CandidateFilters {
    /// Top-p (nucleus): keeps the smallest best-first set whose probability reaches `mass`.
    static func keepNucleus(_ workspace: SamplingWorkspace, mass: Double) {
        guard workspace.candidateCount > 1 else { return }
        let maximum = workspace.maximumLogit()
        guard maximum.isFinite else { return }
        let total = workspace.computeWeights(maximum: maximum, inverseTemperature: 1)
        workspace.keepShortestPrefix(reaching: mass * total, by: workspace.ranksBefore)
    }

    /// Min-p: keeps the candidates whose probability is at least `ratio` times the largest,
    /// i.e. whose logit is at least max + ln(ratio). Keeps the current order.
    static func keepAboveMinimum(_ workspace: SamplingWorkspace, ratio: Float) {
        let maximum = Double(workspace.maximumLogit())
        guard maximum.isFinite else { return }
        let threshold = maximum + portableLogarithm(Double(ratio))
        var kept = 0
        for index in 0..<workspace.candidateCount where Double(workspace.logits[index]) >= threshold {
            workspace.ids[kept] = workspace.ids[index]
            workspace.logits[kept] = workspace.logits[index]
            kept += 1
        }
        workspace.candidateCount = max(kept, 1)
    }

    /// Locally typical sampling: ranks candidates by |surprise − entropy| (smallest first,
    /// ties by `ranksBefore`) and keeps the shortest prefix whose probability reaches `mass`.
    static func keepTypical(_ workspace: SamplingWorkspace, mass: Double) {
        let count = workspace.candidateCount
        guard count > 1 else { return }
        let maximum = workspace.maximumLogit()
        guard maximum.isFinite else { return }
        let total = workspace.computeWeights(maximum: maximum, inverseTemperature: 1)
        let logTotal = portableLogarithm(total)
        let logits = workspace.logits, weights = workspace.weights, keys = workspace.keys
        // With pᵢ = wᵢ / Σ and ln pᵢ = (lᵢ − max) − ln Σ: entropy H = −Σ pᵢ ln pᵢ.
        var entropy = 0.0
        for index in 0..<count where weights[index] > 0 {
            let logProbability = Double(logits[index] - maximum) - logTotal
            entropy -= Double(weights[index]) / total * logProbability
        }
        for index in 0..<count {
            let logProbability = Double(logits[index] - maximum) - logTotal
            keys[index] = Float(abs(-logProbability - entropy))
        }
        workspace.keepShortestPrefix(reaching: mass * total) { a, b in
            keys[a] < keys[b] || (keys[a] == keys[b] && workspace.ranksBefore(a, b))
        }
    }

}
