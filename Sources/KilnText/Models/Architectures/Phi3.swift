import KilnFormats

/// The `phi3` architecture (Phi-3 and Phi-3.5 mini and medium, Phi-4 and Phi-4-mini), as
/// llama.cpp's `src/models/phi3.cpp` computes it: the Llama block with NeoX RoPE (on
/// `rope.dimension_count` elements of each head: Phi-4-mini rotates three quarters), the queries
/// scaled by 1/√headDimension before attention, and two fused tensors: `attn_qkv` (Q, K, V rows in
/// that order; separate `attn_q/k/v` are taken too) and `ffn_up` holding the gate rows, then the
/// up rows (`DecoderParts.fusedGateUp`).
///
/// LongRoPE (the 128k models): `rope_factors_short` and `rope_factors_long` divide the pair
/// frequencies, the long ones when the context in force exceeds
/// `rope.scaling.original_context_length`, and `rope.scaling.attn_factor` scales the rotation;
/// the shared loader and `TransformerModel` apply both. `attention.sliding_window` is ignored, as
/// llama.cpp ignores it for this architecture (its converter writes Phi-3's 2047 but llama.cpp
/// attends globally), so that Kiln answers as llama.cpp does.
enum Phi3: DecoderArchitecture {
    static func configure(_ configuration: inout TransformerConfiguration, file: GGUFFile) throws {
        configuration.ropeLayout = .halves
        configuration.scalesQueries = true
    }

    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        try TensorLoader(file: file).loadDecoder(configuration, parts: [.fusedGateUp])
    }

    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        Llama.preNormBlock(layer, of: model, batch: batch, cache: cache)
    }
}
