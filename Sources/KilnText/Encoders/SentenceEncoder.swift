import Foundation
import KilnFormats
import KilnLayers
import KilnTensor

/// A sentence-embedding model: a BERT-family encoder loaded from either of
/// - a sentence-transformers (or plain Hugging Face) folder, with the folder's pooling
///   (`1_Pooling/config.json`: mean, CLS or last token), its normalisation (a `Normalize` module
///   in `modules.json`) and its input limit (`sentence_bert_config.json`'s `max_seq_length`, else
///   the model's positions);
/// - a GGUF file of llama.cpp's `bert` architecture (made by its `convert_hf_to_gguf.py`, F32,
///   F16 or BF16 weights), pooled and normalised as llama.cpp's server does (`LlamaCppEncoderFile`).
///
/// Inputs are token ids with the special tokens already in place ([CLS] … [SEP]); tokenizing is
/// the caller's (`tokenizerSource` says where the vocabulary is, for KilnTokenizer). Thread-safe:
/// any number of passes may run at once, each with buffers of its own (reused once it ends).
public final class SentenceEncoder: @unchecked Sendable {
    /// Where an encoder's vocabulary is.
    public enum TokenizerSource: Sendable {
        /// A Hugging Face `tokenizer.json` (of a folder).
        case huggingFaceJSON(path: String)
        /// The `tokenizer.ggml.*` metadata of the GGUF file the encoder was loaded from.
        case gguf(GGUFFile)
    }

    /// Where the model was loaded from: a folder or a GGUF file.
    public let path: String
    public let tokenizerSource: TokenizerSource
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
    // @unchecked Sendable: `spareScratch` is only touched while `lock` is held; passes are the
    // caller's and are used by one caller at a time.
    private let lock = NSLock()
    /// Buffers of finished passes, reused by the next ones (so that a warm server allocates none).
    private var spareScratch: [EncoderScratch] = []

    /// Loads the model at `path`, a folder or a GGUF file, running its kernels on `kernels`.
    public init(path: String, kernels: KernelContext) throws {
        self.path = path
        self.kernels = kernels
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let configuration = try BertConfiguration(configAt: path + "/config.json")
            let folder = try SentenceTransformersFolder(directory: path, width: configuration.width)
            self.configuration = configuration
            pooling = folder.pooling
            normalizes = folder.normalizes
            maxInputTokens = min(folder.maxSequenceLength ?? configuration.maxPositions, configuration.maxPositions)
            tokenizerSource = .huggingFaceJSON(path: path + "/tokenizer.json")
            let store = try WeightStore(path: path + "/model.safetensors", prefixes: ["", "bert."])
            model = try BertModel(store: store, names: .huggingFace, configuration: configuration)
        } else {
            let file: GGUFFile
            do {
                file = try GGUFFile(path: path)
            } catch {
                throw LayerError.invalidWeights("\(path): \(error)")
            }
            let configuration = try BertConfiguration(gguf: file)
            let settings = try LlamaCppEncoderFile(file: file)
            self.configuration = configuration
            pooling = settings.pooling
            normalizes = settings.normalizes
            maxInputTokens = configuration.maxPositions
            tokenizerSource = .gguf(file)
            model = try BertModel(store: WeightStore(gguf: file), names: .gguf, configuration: configuration)
        }
        model.packLinearWeights(context: kernels)
    }

    /// Loads the folder at `directory` (see `init(path:kernels:)`).
    public convenience init(directory: String, kernels: KernelContext) throws {
        try self.init(path: directory, kernels: kernels)
    }

    /// One vector per input, in order: a whole pass at once. Throws `ModelError` for an empty
    /// input, one over `maxInputTokens` or an id outside the vocabulary; nothing runs then.
    public func embed(_ inputs: [[Int32]]) throws -> [[Float]] {
        guard !inputs.isEmpty else { return [] }
        let pass = try startPass(inputs)
        advance(pass, tokenRows: .max)
        return finish(pass)
    }

    /// Checks `inputs` and computes their embeddings (the state before the first layer); the
    /// pass then runs through `advance` until it is complete. Throws as `embed` does.
    public func startPass(_ inputs: [[Int32]]) throws -> EncoderPass {
        guard !inputs.isEmpty else { throw ModelError.invalidBatch("an encoder pass needs at least one input") }
        for input in inputs {
            guard !input.isEmpty else { throw ModelError.invalidBatch("an input to the encoder has no tokens") }
            guard input.count <= maxInputTokens else {
                throw ModelError.contextLengthExceeded(position: input.count, limit: maxInputTokens)
            }
            for id in input where id < 0 || Int(id) >= configuration.vocabularySize {
                throw ModelError.tokenOutOfRange(token: id, vocabularySize: configuration.vocabularySize)
            }
        }
        let scratch =
            lock.withLock { spareScratch.popLast() }
            ?? EncoderScratch(width: configuration.width, intermediate: configuration.intermediate)
        let pass = EncoderPass(inputs: inputs, layerCount: configuration.layers, scratch: scratch) { [weak self] scratch in
            self?.lock.withLock { self?.spareScratch.append(scratch) }
        }
        model.begin(pass, context: kernels)
        return pass
    }

    /// Runs about `tokenRows` token visits of `pass` (see `EncoderPass`; at least one slice), or
    /// the rest of it with `.max`.
    public func advance(_ pass: EncoderPass, tokenRows: Int) {
        pass.advance(tokenRows: tokenRows, model: model, context: kernels)
    }

    /// The pooled (and, as the model says, normalised) vector of each input of a complete pass.
    public func finish(_ pass: EncoderPass) -> [[Float]] {
        precondition(pass.isComplete, "finish needs a pass whose layers have all run")
        let width = configuration.width
        return pass.inputs.indices.map { index in
            let states = pass.scratch.hidden + pass.offsets[index] * width
            return [Float](unsafeUninitializedCapacity: width) { vector, initialized in
                pooling.pool(states, tokens: pass.inputs[index].count, width: width, into: vector.baseAddress!)
                if normalizes { EmbeddingPooling.normalize(vector.baseAddress!, count: width) }
                initialized = width
            }
        }
    }
}
