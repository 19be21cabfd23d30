import Foundation
import KilnServe

/// A deterministic stand-in for an embedding model: an input's vector is [its token sum, its
/// length, its model's name length], and a pass is `rowsPerToken` token rows of work per token.
/// Records each pass (its model and inputs) and each `advance`, and can be told to fail.
final class FakeEmbeddingExecutor: EmbeddingExecutor, @unchecked Sendable {
    final class Pass: EmbeddingPass {
        let model: String
        let inputs: [[TokenID]]
        /// Token rows of work left.
        private(set) var remaining: Int
        private let owner: FakeEmbeddingExecutor

        init(model: String, inputs: [[TokenID]], rows: Int, owner: FakeEmbeddingExecutor) {
            self.model = model
            self.inputs = inputs
            self.remaining = rows
            self.owner = owner
        }

        var isComplete: Bool { remaining == 0 }

        func advance(tokenRows: Int) throws {
            owner.advances.append(tokenRows)
            if owner.failAdvance { throw ServeError.executorFailed("fake failure") }
            remaining -= min(remaining, max(1, tokenRows))
        }

        func finish() throws -> [[Float]] {
            precondition(isComplete, "finish before the pass is complete")
            return inputs.map { FakeEmbeddingExecutor.expectedVector($0, model: model) }
        }
    }

    let rowsPerToken: Int
    /// (model, inputs) of every pass started, in order.
    private(set) var passes: [(model: String, inputs: [[TokenID]])] = []
    /// The `tokenRows` argument of every advance, in order.
    fileprivate(set) var advances: [Int] = []
    /// Inputs holding this token make `startPass` throw `invalidRequest`.
    var rejectedToken: TokenID?
    var failAdvance = false

    init(rowsPerToken: Int = 3) { self.rowsPerToken = rowsPerToken }

    static func expectedVector(_ input: [TokenID], model: String) -> [Float] {
        [Float(input.reduce(0) { $0 + Int($1) }), Float(input.count), Float(model.count)]
    }

    func startPass(model: String, inputs: [[TokenID]]) throws -> any EmbeddingPass {
        passes.append((model, inputs))
        if let rejectedToken, inputs.contains(where: { $0.contains(rejectedToken) }) {
            throw ServeError.invalidRequest("token \(rejectedToken) is not allowed")
        }
        return Pass(model: model, inputs: inputs, rows: rowsPerToken * inputs.reduce(0) { $0 + $1.count }, owner: self)
    }
}
