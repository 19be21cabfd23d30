import KilnFormats
import KilnLayers

/// The hyperparameters of a BERT-family encoder (Hugging Face `BertModel`: all-MiniLM, bge, e5
/// and similar), read from its `config.json` or from the `bert.*` metadata of a GGUF file made by
/// llama.cpp's `convert_hf_to_gguf.py`.
public struct BertConfiguration: Sendable, Equatable {
    public var vocabularySize: Int
    /// Hidden width; heads split it evenly.
    public var width: Int
    public var heads: Int
    public var layers: Int
    /// Width of each feed-forward layer's inner activations.
    public var intermediate: Int
    /// Learned positions: the longest input the model can read.
    public var maxPositions: Int
    public var tokenTypes: Int
    public var layerNormEpsilon: Float
    /// Whether the feed-forward activation is the tanh approximation of GELU (`gelu_new`).
    public var tanhGELU: Bool

    public var headDimension: Int { width / heads }

    /// Reads `config.json` at `path`; unsupported variants are errors that name the key.
    public init(configAt path: String) throws {
        let config = try ComponentConfig(path: path)
        let modelType = try config.string("model_type", default: "bert")
        guard modelType == "bert" else {
            throw LayerError.invalidConfig("\(path): model_type '\(modelType)' is not supported (bert)")
        }
        let positions = try config.string("position_embedding_type", default: "absolute")
        guard positions == "absolute" else {
            throw LayerError.invalidConfig("\(path): position_embedding_type '\(positions)' is not supported (absolute)")
        }
        let activation = try config.string("hidden_act", default: "gelu")
        switch activation {
        case "gelu": tanhGELU = false
        case "gelu_new", "gelu_pytorch_tanh": tanhGELU = true
        default: throw LayerError.invalidConfig("\(path): hidden_act '\(activation)' is not supported (gelu, gelu_new)")
        }
        vocabularySize = try config.int("vocab_size", range: 1...10_000_000)
        width = try config.int("hidden_size", range: 1...65_536)
        heads = try config.int("num_attention_heads", range: 1...1_024)
        layers = try config.int("num_hidden_layers", range: 1...512)
        intermediate = try config.int("intermediate_size", range: 1...262_144)
        maxPositions = try config.int("max_position_embeddings", range: 1...1_000_000)
        tokenTypes = try config.int("type_vocab_size", default: 2, range: 1...1_024)
        layerNormEpsilon = Float(try config.double("layer_norm_eps", default: 1e-12))
        guard width % heads == 0 else {
            throw LayerError.invalidConfig("\(path): hidden_size \(width) does not split into \(heads) heads")
        }
    }

    /// Reads the metadata of a GGUF file of llama.cpp's `bert` architecture (and the vocabulary
    /// and token-type counts from its `token_embd` and `token_types` tensors). llama.cpp's `bert`
    /// graph always uses GELU; Kiln computes its exact (erf) form, as Hugging Face's `gelu` does.
    public init(gguf file: GGUFFile) throws {
        let architecture = file.string("general.architecture") ?? "(none)"
        guard architecture == "bert" else {
            throw LayerError.invalidConfig("general.architecture '\(architecture)' is not supported (bert)")
        }
        func int(_ key: String, range: ClosedRange<Int>) throws -> Int {
            guard let value = file.int("bert." + key) else { throw LayerError.invalidConfig("bert.\(key) is missing") }
            guard range.contains(value) else { throw LayerError.invalidConfig("bert.\(key) = \(value) is outside \(range)") }
            return value
        }
        func rows(_ tensor: String) throws -> Int {
            guard let info = file.tensor(named: tensor), info.dimensions.count == 2 else {
                throw LayerError.invalidWeights("tensor '\(tensor)' is missing or not 2-D")
            }
            return info.dimensions[1]
        }
        if file.bool("bert.attention.causal") == true {
            throw LayerError.invalidConfig("bert.attention.causal is true; a BERT encoder attends both ways")
        }
        width = try int("embedding_length", range: 1...65_536)
        heads = try int("attention.head_count", range: 1...1_024)
        layers = try int("block_count", range: 1...512)
        intermediate = try int("feed_forward_length", range: 1...262_144)
        maxPositions = try int("context_length", range: 1...1_000_000)
        vocabularySize = try rows("token_embd.weight")
        tokenTypes = try rows("token_types.weight")
        guard let epsilon = file.float("bert.attention.layer_norm_epsilon"), epsilon > 0, epsilon < 1 else {
            throw LayerError.invalidConfig("bert.attention.layer_norm_epsilon is missing or outside (0, 1)")
        }
        layerNormEpsilon = epsilon
        tanhGELU = false
        guard width % heads == 0 else {
            throw LayerError.invalidConfig("bert.embedding_length \(width) does not split into \(heads) heads")
        }
    }
}
