import KilnLayers
import KilnTensor

/// The CLIP text transformer (Hugging Face `CLIPTextModel`): token and position embeddings, pre-LN
/// layers of causal self-attention and an MLP (quick GELU or GELU), and a final layer norm.
public final class CLIPTextEncoder: @unchecked Sendable {
    struct Layer: Sendable {
        let norm1: LayerNorm, attention: AttentionLayer
        let norm2: LayerNorm, fc1: Linear, fc2: Linear
    }

    public let width: Int
    public let maxPositions: Int
    public let vocabularySize: Int
    let tokenEmbedding: Weight
    let positionEmbedding: Weight
    let layers: [Layer]
    let finalNorm: LayerNorm
    let quickGELU: Bool
    /// Where the encoder's kernels run.
    public let kernels: KernelContext

    /// Loads `directory/config.json` and `directory/model.safetensors` (names with or without the
    /// `text_model.` prefix that older checkpoints carry).
    public init(directory: String, kernels: KernelContext) throws {
        self.kernels = kernels
        let config = try ComponentConfig(path: directory + "/config.json")
        let store = try WeightStore(path: directory + "/model.safetensors", prefixes: ["", "text_model."])
        let width = try config.int("hidden_size", range: 1...16384)
        self.width = width
        let heads = try config.int("num_attention_heads", range: 1...512)
        let layerCount = try config.int("num_hidden_layers", range: 1...256)
        maxPositions = try config.int("max_position_embeddings", default: 77, range: 2...4096)
        let epsilon = Float(try config.double("layer_norm_eps", default: 1e-5))
        let activation = try config.string("hidden_act", default: "quick_gelu")
        guard activation == "quick_gelu" || activation == "gelu" else {
            throw ImageError.invalidConfig("\(config.path): hidden_act \(activation) is not supported (quick_gelu, gelu)")
        }
        quickGELU = activation == "quick_gelu"
        tokenEmbedding = try store.weight("embeddings.token_embedding.weight")
        guard tokenEmbedding.shape.count == 2, tokenEmbedding.shape[1] == width else {
            throw ImageError.invalidWeights("token_embedding must be [vocabulary, \(width)], is \(tokenEmbedding.shape)")
        }
        vocabularySize = tokenEmbedding.shape[0]
        positionEmbedding = try store.floats("embeddings.position_embedding.weight", shape: [maxPositions, width])
        layers = try (0..<layerCount).map { index in
            let prefix = "encoder.layers.\(index)"
            return Layer(
                norm1: try LayerNorm(store, prefix + ".layer_norm1", width: width, epsilon: epsilon),
                attention: try AttentionLayer(clip: store, prefix + ".self_attn", heads: heads),
                norm2: try LayerNorm(store, prefix + ".layer_norm2", width: width, epsilon: epsilon),
                fc1: try Linear(store, prefix + ".mlp.fc1", in: width),
                fc2: try Linear(store, prefix + ".mlp.fc2", out: width))
        }
        finalNorm = try LayerNorm(store, "final_layer_norm", width: width, epsilon: epsilon)
    }

    public var layerCount: Int { layers.count }

    /// Hidden states [ids.count, width] after the final layer norm. With `clipSkip` = n > 0 the last
    /// n layers are skipped (diffusers' `clip_skip`: the state before them, then the final norm).
    public func encode(_ ids: [Int], clipSkip: Int = 0) throws -> [Float] {
        guard !ids.isEmpty, ids.count <= maxPositions else {
            throw ImageError.invalidRequest("text encoder takes 1...\(maxPositions) tokens, got \(ids.count)")
        }
        guard clipSkip >= 0, clipSkip < layers.count else {
            throw ImageError.invalidRequest("clip_skip must be in 0..<\(layers.count), got \(clipSkip)")
        }
        let tokens = ids.count
        let workspace = Workspace(kernels: kernels)
        var hidden = [Float](repeating: 0, count: tokens * width)
        for (position, id) in ids.enumerated() {
            guard id >= 0, id < vocabularySize else { throw ImageError.invalidRequest("token id \(id) is outside the vocabulary") }
            for dim in 0..<width {
                hidden[position * width + dim] = tokenEmbedding.value(at: id * width + dim) + positionEmbedding.pointer[position * width + dim]
            }
        }
        for layer in layers.prefix(layers.count - clipSkip) {
            let attended = layer.attention(layer.norm1(hidden, rows: tokens, workspace: workspace), tokens: tokens, workspace: workspace)
            for index in hidden.indices { hidden[index] += attended[index] }
            var inner = layer.fc1(layer.norm2(hidden, rows: tokens, workspace: workspace), rows: tokens, workspace: workspace)
            inner.withUnsafeMutableBufferPointer { buffer in
                if quickGELU {
                    Activation.quickGELUInPlace(buffer.baseAddress!, count: buffer.count)
                } else {
                    Activation.geluInPlace(buffer.baseAddress!, count: buffer.count)
                }
            }
            let projected = layer.fc2(inner, rows: tokens, workspace: workspace)
            for index in hidden.indices { hidden[index] += projected[index] }
        }
        return finalNorm(hidden, rows: tokens, workspace: workspace)
    }
}
