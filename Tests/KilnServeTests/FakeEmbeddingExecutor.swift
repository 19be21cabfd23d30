import Foundation
import KilnServe

/// A deterministic stand-in for an embedding model: an input's vector is [its token sum, its
/// length, its model's name length], and every pass takes `stepCount` steps. Records each pass
/// (its model and inputs) and each `advance`, and can be told to fail.
final class FakeEmbeddingExecutor: EmbeddingExecutor, @unchecked Sendable {
    final class Pass: EmbeddingPass {
        let model: String
        let inputs: [[TokenID]]
        let stepCount: Int
        private(set) var stepsDone = 0
        private let owner: FakeEmbeddingExecutor

        init(model: String, inputs: [[TokenID]], stepCount: Int, owner: FakeEmbeddingExecutor) {
            self.model = model
            self.inputs = inputs
            self.stepCount = stepCount
            self.owner = owner
        }

        func advance(steps: Int) throws {
            owner.advances.append(steps)
            if owner.failAdvance { throw ServeError.executorFailed("fake failure") }
            stepsDone = min(stepCount, stepsDone + steps)
        }

        func finish() throws -> [[Float]] {
            precondition(stepsDone == stepCount, "finish before the last step")
            return inputs.map { FakeEmbeddingExecutor.expectedVector($0, model: model) }
        }
    }

    let stepCount: Int
    /// (model, inputs) of every pass started, in order.
    private(set) var passes: [(model: String, inputs: [[TokenID]])] = []
    /// The `steps` argument of every advance, in order.
    fileprivate(set) var advances: [Int] = []
    /// Inputs holding this token make `startPass` throw `invalidRequest`.
    var rejectedToken: TokenID?
    var failAdvance = false

    init(stepCount: Int = 3) { self.stepCount = stepCount }

    static func expectedVector(_ input: [TokenID], model: String) -> [Float] {
        [Float(input.reduce(0) { $0 + Int($1) }), Float(input.count), Float(model.count)]
    }

    func startPass(model: String, inputs: [[TokenID]]) throws -> any EmbeddingPass {
        passes.append((model, inputs))
        if let rejectedToken, inputs.contains(where: { $0.contains(rejectedToken) }) {
            throw ServeError.invalidRequest("token \(rejectedToken) is not allowed")
        }
        return Pass(model: model, inputs: inputs, stepCount: stepCount, owner: self)
    }
}

/// Collects an embedding job's terminal event.
final class EmbeddingEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var terminals: [JobEvent] = []

    var handler: JobEventHandler {
        { [self] event in lock.withLock { terminals.append(event) } }
    }

    var vectors: [[Float]]? {
        lock.withLock {
            guard terminals.count == 1, case .embeddingsFinished(let vectors, _)? = terminals.first else { return nil }
            return vectors
        }
    }

    var usage: TokenUsage? {
        lock.withLock {
            guard case .embeddingsFinished(_, let usage)? = terminals.first else { return nil }
            return usage
        }
    }

    var error: ServeError? {
        lock.withLock {
            guard case .error(let error)? = terminals.first else { return nil }
            return error
        }
    }

    var wasCancelled: Bool {
        lock.withLock {
            guard case .done(let completion)? = terminals.first else { return false }
            return completion.reason == .cancelled
        }
    }
}
