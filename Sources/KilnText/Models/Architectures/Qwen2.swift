import KilnFormats

/// The `qwen2` architecture (Qwen1.5, Qwen2, Qwen2.5): the Llama block with biases on the Q, K
/// and V projections and RoPE in the NeoX layout (element i paired with i + d/2).
enum Qwen2: DecoderArchitecture {
    static func configure(_ configuration: inout TransformerConfiguration, file: GGUFFile) throws {
        configuration.ropeLayout = .halves
    }

    /// Loads a `qwen2` model's weights, including the three projection biases (required).
    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        try TensorLoader(file: file).loadDecoder(configuration, parts: [.projectionBiases])
    }

    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        Llama.preNormBlock(layer, of: model, batch: batch, cache: cache)
    }
}
