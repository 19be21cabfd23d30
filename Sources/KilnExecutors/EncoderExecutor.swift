import Foundation
import KilnServe
import KilnText

/// The engine behind the scheduler for embedding jobs: its embedding models by model id, each a
/// sentence encoder (BERT family) or a language model pooled as an embedder. A scheduler pass is
/// one encoder or decoder pass, advanced a slice at a time.
///
/// Called only from the scheduler thread (which a decoder embedder needs: it shares the language
/// model with the text engine). An input a model refuses (too long, an id outside the vocabulary)
/// is the client's fault: it fails its pass as `ServeError.invalidRequest`.
// @unchecked Sendable: the table is `let`; the models are used from the scheduler thread only.
public final class EncoderExecutor: EmbeddingExecutor, @unchecked Sendable {
    /// One embedding model.
    public enum Model {
        case encoder(SentenceEncoder)
        case decoder(DecoderEmbedder)
    }

    /// The models, by the model id requests name them with.
    public let models: [String: Model]

    public init(models: [String: Model]) {
        self.models = models
    }

    public func startPass(model: String, inputs: [[TokenID]]) throws -> any EmbeddingPass {
        guard let found = models[model] else { throw ServeError.invalidRequest("no embedding model named '\(model)'") }
        do {
            switch found {
            case .encoder(let encoder): return ScheduledEncoderPass(encoder: encoder, pass: try encoder.startPass(inputs))
            case .decoder(let decoder): return ScheduledDecoderPass(decoder: decoder, pass: try decoder.startPass(inputs))
            }
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
    func advance(tokenRows: Int) throws { encoder.advance(pass, tokenRows: tokenRows) }
    func finish() throws -> [[Float]] { encoder.finish(pass) }
}

/// A `DecoderEmbeddingPass` as the scheduler sees it. A token row of an encoder is a token
/// through a third of one layer; a decoder runs a token through every layer at once, so the
/// scheduler's budget is scaled down by three times the layer count (never below one token).
final class ScheduledDecoderPass: EmbeddingPass {
    let decoder: DecoderEmbedder
    let pass: DecoderEmbeddingPass

    init(decoder: DecoderEmbedder, pass: DecoderEmbeddingPass) {
        self.decoder = decoder
        self.pass = pass
    }

    var isComplete: Bool { pass.isComplete }

    func advance(tokenRows: Int) throws {
        let rowsPerToken = 3 * decoder.model.configuration.blockCount
        try decoder.advance(pass, tokenRows: tokenRows == .max ? .max : max(1, tokenRows / rowsPerToken))
    }

    func finish() throws -> [[Float]] { decoder.finish(pass) }
}
