import KilnFormats

/// The `llama` architecture: SmolLM/SmolLM2, Llama 2 and 3, Mistral and other models that GGUF
/// files label `llama`.
///
/// Per block: x += Wo · attention(RoPE(Wq · n), RoPE(Wk · n), Wv · n) with n = RMSNorm(x), then
/// x += Wdown · (SiLU(Wgate · m) ⊙ Wup · m) with m = RMSNorm(x); logits = Wout · RMSNorm(x).
/// RoPE rotates adjacent pairs (GGUF converters permute Q and K rows for this), no biases, and
/// the output projection is `output.weight` or, when the file has none, the embedding table.
enum Llama {
    /// Loads a `llama` model's weights; every tensor is checked against the hyperparameters.
    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        precondition(configuration.architecture == .llama)
        return try TensorLoader(file: file).loadDecoder(configuration, biases: false)
    }
}
