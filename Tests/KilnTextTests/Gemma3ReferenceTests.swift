import Foundation
import KilnText
import Testing

/// Gemma 3 270M (Q4_K_M, `gemma3`) against llama.cpp's greedy runs
/// (Tests/Fixtures/gemma3-270m/llamacpp-reference.json), with SmolLM2's criterion: greedy tokens
/// equal up to llama.cpp's first near-tie (top two within 0.05), top-1 log-probabilities within
/// 0.05, free-running and teacher-forced. One case holds it; the six others are recorded known
/// issues (see `referenceIsNotReproducible`), so that this suite fails when one of them starts to
/// pass. The model is fetched, pinned and checked, by Scripts/fetch-model.sh on first use.
@Suite(.serialized) struct Gemma3ReferenceTests {
    static func loadModel() throws -> TransformerModel {
        let path = try #require(ModelFixtures.gemma3Path, "Gemma 3 270M is missing: run Scripts/fetch-model.sh gemma-3-270m")
        return try TransformerModel(
            path: path, options: ModelOptions(threadCount: 2, maximumLogitRows: 4, activationPrecision: ModelFixtures.precision))
    }

    @Test func hyperparametersComeFromTheMetadata() throws {
        let c = try Self.loadModel().configuration
        #expect(c.architecture == .gemma3 && c.blockCount == 18 && c.embeddingLength == 640)
        #expect(c.headCount == 4 && c.kvHeadCount == 1 && c.headDimension == 256 && c.feedForwardLength == 2048)
        #expect(c.ropeLayout == .halves && c.ropeFrequencyBase == 1_000_000 && c.slidingWindowRopeFrequencyBase == 10_000)
        #expect(c.slidingWindow == 512)
        // llama.cpp's default pattern of period 6: every sixth layer global.
        #expect((0..<18).filter { !c.isSlidingWindow(layer: $0) } == [5, 11, 17])
        #expect(c.attentionScale == 1.0 / 16 && c.scalesQueries)
        #expect(c.embeddingScale == Float(640).squareRoot() && c.feedForwardActivation == .geluTanh)
        #expect(c.finalLogitSoftcap == nil && c.vocabularySize == 262_144)
    }

    /// The case whose reference Kiln reproduces: "The history of the printing press", every one
    /// of its 40 steps within 2.3e-4 of llama.cpp's log-probability (teacher-forced and free).
    static let reproducedCase = 4

    /// Why the other six cases are known failures: the reference is one run of llama.cpp's server,
    /// and llama.cpp does not reproduce it either. This machine's build of the same server, fresh,
    /// one request per case, differs from it by up to 0.11 in the first six steps (case 6 step 3),
    /// and the same library through its C API (flash attention, 2 threads) by up to 0.43 over 40
    /// steps; Kiln differs by up to 0.17 (Docs/models.md has the figures). Kiln's products are
    /// llama.cpp's bit for bit (Q5_0, Q8_0, Q4_K repacked, Q6_K: KilnTensorTests and the comparison
    /// in Docs/models.md), so what is left is in how llama.cpp's run was shaped (its slots,
    /// cache cells and batches), which the reference does not record.
    static let referenceIsNotReproducible = Comment(
        "llama.cpp's own server and library deviate from this reference run by as much (Docs/models.md)")

    @Test(arguments: 0..<7)
    func greedyTokensMatchLlamaCpp(caseIndex: Int) throws {
        try Self.compare(caseIndex) { try LlamaCppComparison.expectGreedyTokensMatch($0, $1, label: $2) }
    }

    @Test(arguments: 0..<7)
    func everyStepAgreesGivenLlamaCppTokens(caseIndex: Int) throws {
        try Self.compare(caseIndex, by: LlamaCppComparison.expectEveryStepAgrees)
    }

    /// Runs `check` on case `caseIndex`: strictly on the reproduced case, as a known issue on the
    /// others (which then fail the run if they start passing).
    static func compare(
        _ caseIndex: Int, by check: (TransformerModel, ModelFixtures.GreedyCase, String) throws -> Void
    ) throws {
        let model = try loadModel()
        let reference = ModelFixtures.gemma3Reference.greedy[caseIndex]
        let label = "gemma3 case \(caseIndex)"
        if caseIndex == reproducedCase {
            try check(model, reference, label)
        } else {
            try withKnownIssue(referenceIsNotReproducible) { try check(model, reference, label) }
        }
    }
}
