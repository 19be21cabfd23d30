import Foundation
import KilnServe
import KilnText

/// The engine behind the scheduler for embedding jobs: one or more `SentenceEncoder`s by model
/// id. A scheduler pass is one `EncoderPass`, advanced a slice at a time.
///
/// Called only from the scheduler thread. An input the encoder refuses (too long, an id outside
/// the vocabulary) is the client's fault: it fails its pass as `ServeError.invalidRequest`.
// @unchecked Sendable: the table is `let`; the encoders are thread-safe.
public final class EncoderExecutor: EmbeddingExecutor, @unchecked Sendable {
    /// The encoders, by the model id requests name them with.
    public let encoders: [String: SentenceEncoder]

    public init(encoders: [String: SentenceEncoder]) {
        self.encoders = encoders
    }

    public func startPass(model: String, inputs: [[TokenID]]) throws -> any EmbeddingPass {
        guard let encoder = encoders[model] else { throw ServeError.invalidRequest("no embedding model named '\(model)'") }
        do {
            return ScheduledEncoderPass(encoder: encoder, pass: try encoder.startPass(inputs))
        } catch let error as ModelError {
            throw ServeError.invalidRequest(error.description)
        }
    }
}

/// An `EncoderPass` as the scheduler sees it.
final class ScheduledEncoderPass: EmbeddingPass {
    let encoder: SentenceEncoder
    let pass: EncoderPass

    init(encoder: SentenceEncoder, pass: EncoderPass) {
        self.encoder = encoder
        self.pass = pass
    }

    var isComplete: Bool { pass.isComplete }

    func advance(tokenRows: Int) throws {
        encoder.advance(pass, tokenRows: tokenRows)
    }

    func finish() throws -> [[Float]] {
        encoder.finish(pass)
    }
}
