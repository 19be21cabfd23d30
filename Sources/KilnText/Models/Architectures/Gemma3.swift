import KilnFormats

/// The `gemma3` architecture (Gemma 3 text models, 270M to 27B), as llama.cpp's
/// `src/models/gemma3.cpp` computes it.
///
/// The embedding rows are scaled by √width. Per block, with RMSNorm gains as the GGUF stores them
/// (llama.cpp's converter already added Gemma's +1):
/// a = Wo · attention(q, k, v) with q = RoPE(QNorm(Wq · n)) · scale, k = RoPE(KNorm(Wk · n)),
/// v = Wv · n, n = RMSNorm(x), the query and key norms per head; x += PostAttentionNorm(a); then
/// x += PostFFNNorm(Wdown · (GELU(Wgate · m) ⊙ Wup · m)) with m = RMSNorm(x) and the tanh GELU.
/// Layers alternate between sliding-window attention (`attention.sliding_window` keys back, RoPE
/// base `rope.freq_base_swa`, default 10 000) and global attention (`rope.freq_base`, with any
/// linear scaling): by `attention.sliding_window_pattern` (a period whose last layer is global,
/// default 6, or one flag per layer). RoPE pairs i with i + d/2. The score scale is
/// 1/√headDimension, except for the 62-layer 27B model, whose `query_pre_attn_scalar` is
/// width / heads (llama.cpp's rule: the GGUF does not carry the scalar). Logits are soft-capped
/// when `final_logit_softcapping` is set.
enum Gemma3: DecoderArchitecture {
    /// llama.cpp's default period of the sliding-window pattern.
    static let defaultPatternPeriod = 6

    static func configure(_ c: inout TransformerConfiguration, file: GGUFFile) throws {
        let prefix = c.architecture.rawValue + "."
        c.ropeLayout = .halves
        c.embeddingScale = Float(c.embeddingLength).squareRoot()
        c.feedForwardActivation = .geluTanh
        c.scalesQueries = true
        if c.blockCount == 62 {
            c.attentionScale = 1 / Float(c.embeddingLength / c.headCount).squareRoot()
        }
        if let softcap = file.float(prefix + "final_logit_softcapping"), softcap != 0 {
            guard softcap.isFinite, softcap > 0 else {
                throw ModelError.invalidMetadata(key: prefix + "final_logit_softcapping", reason: "\(softcap) must be > 0")
            }
            c.finalLogitSoftcap = softcap
        }
        try c.readSlidingWindow(file: file, defaultPeriod: defaultPatternPeriod)
        guard c.slidingWindow > 0 else { return }
        c.slidingWindowRopeFrequencyScale = 1
        c.slidingWindowRopeFrequencyBase = try TransformerConfiguration.positiveFloat(
            file, prefix + "rope.freq_base_swa", default: 10_000)
    }

    static func loadWeights(from file: GGUFFile, configuration: TransformerConfiguration) throws -> TransformerWeights {
        try TensorLoader(file: file).loadDecoder(configuration, parts: [.headNorms, .postNorms])
    }

    static func runBlock(_ layer: Int, of model: TransformerModel, batch: ForwardBatch, cache: PagedKVCache) {
        let weights = model.weights.layers[layer]
        let s = model.scratch
        let tokens = batch.tokenCount
        model.normalizeRows(s.hidden, into: s.normalized, count: tokens, gain: weights.attentionNorm)
        model.attention(layer, weights: weights, batch: batch, cache: cache, output: s.projected)
        model.normalizeRows(s.projected, into: s.normalized, count: tokens, gain: weights.postAttentionNorm!)
        model.addRows(s.normalized, into: s.hidden, rows: tokens)
        model.normalizeRows(s.hidden, into: s.normalized, count: tokens, gain: weights.feedForwardNorm)
        model.feedForward(layer, weights: weights, rows: tokens, output: s.projected)
        model.normalizeRows(s.projected, into: s.normalized, count: tokens, gain: weights.postFeedForwardNorm!)
        model.addRows(s.normalized, into: s.hidden, rows: tokens)
    }
}
