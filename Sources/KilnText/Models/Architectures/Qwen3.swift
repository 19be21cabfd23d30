import KilnFormats

/// The `qwen3` architecture (Qwen3 dense models), as llama.cpp's `src/models/qwen3.cpp` computes
/// it: the Llama block without projection biases, with an RMSNorm of each query and key head
/// (`attn_q_norm`, `attn_k_norm`) before RoPE in the NeoX layout. The head width comes from
/// `attention.key_length` (128 in the released models, whose query width is then not the
/// residual width).
enum Qwen3: DecoderArchitecture {
    static func configure(_ configuration: inout TransformerConfiguration, file: GGUFFile) throws {
        configuration.ropeLayout = .halves
    }

    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        try TensorLoader(file: file).loadDecoder(configuration, parts: [.headNorms])
    }

    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        Llama.preNormBlock(layer, of: model, batch: batch, cache: cache)
    }
}
