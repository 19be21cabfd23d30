import Foundation
import KilnText
import Testing

/// The comparisons with llama.cpp's greedy runs that the reference suites share (SmolLM2's in
/// `ModelReferenceTests`, Gemma 3's in `Gemma3ReferenceTests`, Qwen2.5-Coder's in
/// `QwenCoderReferenceTests`), with the issue's criterion: Kiln's
/// greedy tokens equal llama.cpp's up to the first step where llama.cpp's own top-2
/// log-probabilities are within `tolerance` of each other, and top-1 log-probabilities within
/// `tolerance`.
enum LlamaCppComparison {
    /// The issue's tolerance, for both the top-1 log-probability and the near-tie margin.
    static let tolerance = 0.05

    /// Free-running greedy decoding from the case's prompt, compared with llama.cpp's tokens up to
    /// its first near-tie, with the top-1 log-probability of each of those steps within tolerance
    /// (unless `checksLogProbabilities` is false: tokens only).
    static func expectGreedyTokensMatch(
        _ model: TransformerModel, _ reference: ModelFixtures.GreedyCase, label: String, checksLogProbabilities: Bool = true
    ) throws {
        let runner = try SequenceRunner(model: model, capacity: reference.prompt_ids.count + reference.ids.count + 1)
        var logits = try runner.feed(reference.prompt_ids)
        let nearTie = reference.steps.firstIndex { $0.topGap < tolerance } ?? reference.steps.count
        var matched = 0
        var worst = 0.0
        for (index, step) in reference.steps.enumerated() {
            let (token, logProbability) = ModelFixtures.top(logits)
            if index < nearTie {
                let difference = abs(logProbability - step.topLogProbability)
                worst = max(worst, difference)
                if checksLogProbabilities {
                    #expect(
                        difference < tolerance,
                        "\(label) step \(index): log p \(logProbability) vs llama.cpp \(step.topLogProbability)")
                }
            }
            guard token == step.id else { break }
            matched += 1
            if index + 1 < reference.steps.count { logits = try runner.feed([token]) }
        }
        print(
            "greedy \(label): \(matched) of \(reference.steps.count) tokens equal llama.cpp's; its first "
                + "top-2 gap < \(tolerance) is at step \(nearTie); largest |Δ log p| before it \(String(format: "%.6f", worst))")
        #expect(matched >= nearTie, "\(label): tokens part at step \(matched) before llama.cpp's first near-tie at \(nearTie)")
    }

    /// Teacher forcing: with llama.cpp's tokens as the context, every step's top-1
    /// log-probability within tolerance of llama.cpp's, and the top token equal wherever
    /// llama.cpp's lead is at least the tolerance.
    static func expectEveryStepAgrees(
        _ model: TransformerModel, _ reference: ModelFixtures.GreedyCase, label: String
    ) throws {
        let runner = try SequenceRunner(model: model, capacity: reference.prompt_ids.count + reference.ids.count)
        var tops = [ModelFixtures.top(try runner.feed(reference.prompt_ids))]
        // One token per step, as llama.cpp decoded them (its attention for a lone token differs from
        // that for several).
        for token in reference.ids.dropLast() { tops.append(ModelFixtures.top(try runner.feed([token]))) }
        var differences: [Double] = []
        var agreements = 0
        for (index, step) in reference.steps.enumerated() {
            let (token, logProbability) = tops[index]
            if token == step.id { agreements += 1 }
            let difference = abs(logProbability - step.topLogProbability)
            differences.append(difference)
            #expect(
                difference < tolerance,
                "\(label) step \(index): log p \(logProbability) vs llama.cpp \(step.topLogProbability)")
            if step.topGap >= tolerance {
                #expect(token == step.id, "\(label) step \(index): Kiln's top \(token), llama.cpp's \(step.id)")
            }
        }
        let mean = differences.reduce(0, +) / Double(differences.count)
        let within = differences.filter { $0 < tolerance }.count
        print(
            "teacher-forced \(label): \(differences.count) steps, \(within) within \(tolerance), "
                + "max |Δ log p| \(String(format: "%.6f", differences.max()!)), mean \(String(format: "%.6f", mean)), "
                + "top token equal at \(agreements)")
    }
}
