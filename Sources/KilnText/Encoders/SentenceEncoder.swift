import Foundation
import KilnLayers
import KilnTensor

/// A sentence-embedding model loaded from a sentence-transformers (or plain Hugging Face) folder:
/// a BERT-family encoder, the folder's pooling (`1_Pooling/config.json`: mean, CLS or last
/// token), its normalisation (a `Normalize` module in `modules.json`) and its input limit
/// (`sentence_bert_config.json`'s `max_seq_length`, else the model's positions).
///
/// Inputs are token ids with the special tokens already in place ([CLS] … [SEP]); tokenizing is
/// the caller's (the folder's `tokenizer.json`, read by KilnTokenizer). Thread-safe: passes are
/// serialised, each reusing the same buffers.
public final class SentenceEncoder: @unchecked Sendable {
    /// Where the model was loaded from.
    public let directory: String
    public let configuration: BertConfiguration
    public let pooling: EmbeddingPooling
    /// Whether vectors are scaled to unit length.
    public let normalizes: Bool
    /// The most tokens (special tokens included) one input may have.
    public let maxInputTokens: Int
    /// Length of the vectors.
    public var dimensions: Int { configuration.width }

    private let model: BertModel
    private let kernels: KernelContext
    // @unchecked Sendable: `scratch` is only touched while `lock` is held.
    private let lock = NSLock()
    private let scratch: EncoderScratch

    /// Loads the folder at `directory`, running its kernels on `kernels`.
    public init(directory: String, kernels: KernelContext) throws {
        self.directory = directory
        self.kernels = kernels
        let configuration = try BertConfiguration(configAt: directory + "/config.json")
        self.configuration = configuration
        let folder = try SentenceTransformersFolder(directory: directory, width: configuration.width)
        pooling = folder.pooling
        normalizes = folder.normalizes
        maxInputTokens = min(folder.maxSequenceLength ?? configuration.maxPositions, configuration.maxPositions)
        model = try BertModel(directory: directory, configuration: configuration)
        scratch = EncoderScratch(width: configuration.width, intermediate: configuration.intermediate)
    }

    /// One vector per input, in order. Throws `ModelError` for an empty input, one over
    /// `maxInputTokens` or an id outside the vocabulary; nothing runs then.
    public func embed(_ inputs: [[Int32]]) throws -> [[Float]] {
        for input in inputs {
            guard !input.isEmpty else { throw ModelError.invalidBatch("an input to the encoder has no tokens") }
            guard input.count <= maxInputTokens else {
                throw ModelError.contextLengthExceeded(position: input.count, limit: maxInputTokens)
            }
            for id in input where id < 0 || Int(id) >= configuration.vocabularySize {
                throw ModelError.tokenOutOfRange(token: id, vocabularySize: configuration.vocabularySize)
            }
        }
        guard !inputs.isEmpty else { return [] }
        let width = configuration.width
        return lock.withLock {
            model.encode(inputs, scratch: scratch, context: kernels)
            var row = 0
            return inputs.map { input in
                let states = scratch.hidden + row * width
                row += input.count
                return [Float](unsafeUninitializedCapacity: width) { vector, initialized in
                    pooling.pool(states, tokens: input.count, width: width, into: vector.baseAddress!)
                    if normalizes { EmbeddingPooling.normalize(vector.baseAddress!, count: width) }
                    initialized = width
                }
            }
        }
    }
}
