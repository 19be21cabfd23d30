import Foundation
import Testing
import KilnText

@Test func modelScratch() throws {
    let reference = ModelFixtures.reference.greedy[0]
    let model = try ModelFixtures.loadModel()
    print("SCRATCH", model.summary.description)
    let runner = try SequenceRunner(model: model, capacity: 64)
    let start = Date()
    var logits = try runner.feed(reference.prompt_ids)
    print("SCRATCH prefill", Date().timeIntervalSince(start))
    for (index, step) in reference.steps.prefix(4).enumerated() {
        let (token, lp) = ModelFixtures.top(logits)
        print("SCRATCH step", index, token, lp, "ref", step.id, step.topLogProbability)
        let t = Date()
        logits = try runner.feed([step.id])
        print("SCRATCH decode", Date().timeIntervalSince(t))
    }
}
