import KilnFormats

/// The `llama` architecture: SmolLM/SmolLM2, Llama 2 and 3, Mistral and other models that GGUF
/// files label `llama`.
///
/// Per block: x += Wo · attention(RoPE(Wq · n), RoPE(Wk · n), Wv · n) with n = RMSNorm(x), then
/// x += Wdown · (SiLU(Wgate · m) ⊙ Wup · m) with m = RMSNorm(x); logits = Wout · RMSNorm(x).
/// RoPE rotates adjacent pairs (GGUF converters permute Q and K rows for this), no biases, and
/// the output projection is `output.weight` or, when the file has none, the embedding table.
/// Llama 3.1's RoPE scaling arrives as the `rope_freqs` tensor (per-pair divisors of the
/// frequencies), which the shared loader reads.
///
/// Mistral's sliding window: when the file sets `llama.attention.sliding_window`, every layer
/// attends to that many positions (or the layers `attention.sliding_window_pattern` names), as
/// Mistral 7B v0.1 was trained. llama.cpp's `llama` graph ignores the key and attends globally;
/// its own converter does not write it for Mistral, so files that carry it come from elsewhere.
enum Llama: DecoderArchitecture {
    static func configure(_ configuration: inout TransformerConfiguration, file: GGUFFile) throws {
        try configuration.readSlidingWindow(file: file, defaultPeriod: nil)
    }

    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        try TensorLoader(file: file).loadDecoder(configuration)
    }

    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        preNormBlock(layer, of: model, batch: batch, cache: cache)
    }

    /// The pre-norm block with residual additions that Llama and its descendants share.
    static func preNormBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        let weights = model.weights.layers[layer]
        let s = model.scratch
        let tokens = batch.tokenCount
        model.normalizeRows(s.hidden, into: s.normalized, count: tokens, gain: weights.attentionNorm)
        model.attention(layer, weights: weights, batch: batch, cache: cache, output: s.projected)
        model.addRows(s.projected, into: s.hidden, rows: tokens)
        model.normalizeRows(s.hidden, into: s.normalized, count: tokens, gain: weights.feedForwardNorm)
        model.feedForward(layer, weights: weights, rows: tokens, output: s.projected)
        model.addRows(s.projected, into: s.hidden, rows: tokens)
    }
}
