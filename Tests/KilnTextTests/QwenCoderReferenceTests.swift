import Foundation
import KilnText
import Testing

/// Qwen2.5-Coder-0.5B-Instruct (Q4_K_M: Q5_0, Q4_K, Q6_K and Q8_0 tensors, `qwen2`) against
/// llama.cpp's greedy runs (Tests/Fixtures/qwen2.5-coder-0.5b/llamacpp-reference.json), with
/// SmolLM2's criterion: greedy tokens equal up to llama.cpp's first near-tie (top two within 0.05),
/// top-1 log-probabilities within 0.05. The tokens hold on every case; the log-probabilities on
/// three, and the four others are recorded known issues (see `referenceIsNotReproducible`), so that
/// this suite fails when one of them starts to pass. The model is fetched, pinned and checked, by
/// Scripts/fetch-model.sh on first use.
@Suite(.serialized) struct QwenCoderReferenceTests {
    static func loadModel() throws -> TransformerModel {
        let path = try #require(
            ModelFixtures.qwenCoderPath, "Qwen2.5-Coder-0.5B is missing: run Scripts/fetch-model.sh qwen2.5-coder-0.5b")
        return try TransformerModel(
            path: path, options: ModelOptions(threadCount: 2, maximumLogitRows: 4, activationPrecision: ModelFixtures.precision))
    }

    static let cases = 0..<ModelFixtures.qwenCoderReference.greedy.count

    /// The cases whose log-probabilities Kiln reproduces within 0.05 at every step.
    static let reproducedCases: Set<Int> = [0, 2, 6]

    /// Why the other four are known failures: the reference is one run of llama.cpp's server, and
    /// llama.cpp does not reproduce it either. This machine's build of the same server, fresh, one
    /// request per case, 2 threads, differs from it by up to 0.126 in the top-1 log-probability
    /// before the first token it does not repeat (case 4), 0.106 on case 6, and on case 1 picks
    /// another token at step 7, before the reference's first near-tie; Kiln differs by up to 0.123
    /// (case 4) and repeats every reference token up to each near-tie (2026-12-07, see
    /// Docs/models.md).
    static let referenceIsNotReproducible = Comment(
        "llama.cpp's own server deviates from this reference run by as much (Docs/models.md)")

    @Test func hyperparametersComeFromTheMetadata() throws {
        let c = try Self.loadModel().configuration
        #expect(c.architecture == .qwen2 && c.blockCount == 24 && c.embeddingLength == 896)
        #expect(c.headCount == 14 && c.kvHeadCount == 2 && c.headDimension == 64 && c.feedForwardLength == 4864)
        #expect(c.ropeFrequencyBase == 1_000_000 && c.vocabularySize == 151_936)
    }

    /// Free-running greedy tokens equal llama.cpp's up to its first near-tie, on every case.
    @Test(arguments: cases)
    func greedyTokensMatchLlamaCpp(caseIndex: Int) throws {
        try LlamaCppComparison.expectGreedyTokensMatch(
            try Self.loadModel(), ModelFixtures.qwenCoderReference.greedy[caseIndex], label: "qwen2.5-coder case \(caseIndex)",
            checksLogProbabilities: false)
    }

    /// Top-1 log-probabilities within 0.05, free-running and teacher-forced.
    @Test(arguments: cases)
    func logProbabilitiesAgreeWithLlamaCpp(caseIndex: Int) throws {
        let model = try Self.loadModel()
        let reference = ModelFixtures.qwenCoderReference.greedy[caseIndex]
        let label = "qwen2.5-coder case \(caseIndex)"
        let check = {
            try LlamaCppComparison.expectGreedyTokensMatch(model, reference, label: label)
            try LlamaCppComparison.expectEveryStepAgrees(model, reference, label: label)
        }
        if Self.reproducedCases.contains(caseIndex) {
            try check()
        } else {
            try withKnownIssue(Self.referenceIsNotReproducible) { try check() }
        }
    }
}
