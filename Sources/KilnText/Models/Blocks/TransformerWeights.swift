import KilnFormats
import KilnTensor

/// The weights of one transformer block. Matrices are views into the mapped file; the small
/// vectors (norm gains, biases) are dequantized copies.
struct LayerWeights {
    var attentionNorm: [Float]  // [width]
    var query: WeightMatrix  // [queryWidth × width]
    var key: WeightMatrix  // [keyValueWidth × width]
    var value: WeightMatrix  // [keyValueWidth × width]
    var queryBias: [Float]?  // [queryWidth] (Qwen2)
    var keyBias: [Float]?  // [keyValueWidth] (Qwen2)
    var valueBias: [Float]?  // [keyValueWidth] (Qwen2)
    var attentionOutput: WeightMatrix  // [width × queryWidth]
    var feedForwardNorm: [Float]  // [width]
    var gate: WeightMatrix  // [feedForward × width]
    var up: WeightMatrix  // [feedForward × width]
    var down: WeightMatrix  // [width × feedForward]
    var queryNorm: [Float]?  // [headDimension] per-head RMSNorm gain (Gemma 3)
    var keyNorm: [Float]?  // [headDimension] (Gemma 3)
    var postAttentionNorm: [Float]?  // [width] on the attention output (Gemma 3)
    var postFeedForwardNorm: [Float]?  // [width] on the feed-forward output (Gemma 3)
}

/// The optional tensors of a block that an architecture requires.
struct DecoderParts: OptionSet {
    let rawValue: Int
    /// `attn_q.bias`, `attn_k.bias`, `attn_v.bias` (Qwen2).
    static let projectionBiases = DecoderParts(rawValue: 1)
    /// `attn_q_norm.weight`, `attn_k_norm.weight`: RMSNorm of each query and key head.
    static let headNorms = DecoderParts(rawValue: 2)
    /// `post_attention_norm.weight`, `post_ffw_norm.weight`: RMSNorm of each branch's output.
    static let postNorms = DecoderParts(rawValue: 4)
    /// No `ffn_gate.weight`: `ffn_up.weight` holds the gate rows, then the up rows (Phi-3; ggml's
    /// `swiglu` of one tensor activates its first half).
    static let fusedGateUp = DecoderParts(rawValue: 8)
}

/// All weights of a decoder-only transformer, found by their GGUF tensor names and checked
/// against the hyperparameters.
struct TransformerWeights {
    var tokenEmbedding: WeightMatrix  // [vocabulary × width]
    var layers: [LayerWeights]
    var outputNorm: [Float]  // [width]
    /// The output projection: `output.weight`, or the embedding table when tied.
    var output: WeightMatrix  // [vocabulary × width]
    var outputIsTied: Bool
    /// Per-pair RoPE frequency divisors (`rope_freqs.weight`, Llama 3.1), or empty.
    var ropeFrequencyFactors: [Float]
    /// LongRoPE's per-pair divisors for contexts up to the original one and beyond it
    /// (`rope_factors_short.weight`, `rope_factors_long.weight`, Phi-3), or empty.
    var ropeShortFactors: [Float]
    var ropeLongFactors: [Float]

    /// The RoPE divisors in force for a context limit of `contextLength`: `rope_freqs` when the
    /// file has them, else LongRoPE's long factors when the limit exceeds the original context and
    /// its short ones otherwise, as llama.cpp's `get_rope_factors` chooses (by its context size,
    /// not by position: one set for the whole run).
    func ropeFactors(contextLength: Int, originalContextLength: Int) -> [Float] {
        if !ropeFrequencyFactors.isEmpty { return ropeFrequencyFactors }
        return contextLength > originalContextLength && !ropeLongFactors.isEmpty ? ropeLongFactors : ropeShortFactors
    }
}

/// Reads named tensors from a GGUF file with shape and type checks.
struct TensorLoader {
    let file: GGUFFile

    /// A 2-D matrix mapping `columns` inputs to `rows` outputs (GGML shape [columns, rows]).
    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw ModelError.missingTensor(name: name) }
        guard info.dimensions == [columns, rows] else {
            throw ModelError.tensorShapeMismatch(name: name, expected: [columns, rows], actual: info.dimensions)
        }
        guard Dequantization.isSupported(info.type) else {
            throw ModelError.unsupportedTensorType(name: name, type: info.type.description)
        }
        do {
            return try WeightMatrix(type: info.type, rows: rows, columns: columns, bytes: file.data(of: info))
        } catch let error as TensorError {
            throw ModelError.invalidMetadata(key: name, reason: error.description)
        }
    }

    /// A 1-D vector of `count` elements, dequantized to floats.
    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let info = file.tensor(named: name) else { throw ModelError.missingTensor(name: name) }
        guard info.dimensions == [count] else {
            throw ModelError.tensorShapeMismatch(name: name, expected: [count], actual: info.dimensions)
        }
        guard Dequantization.isSupported(info.type), count % info.type.blockSize == 0 else {
            throw ModelError.unsupportedTensorType(name: name, type: info.type.description)
        }
        let bytes = file.data(of: info)
        guard let base = bytes.baseAddress, bytes.count >= count / info.type.blockSize * info.type.typeSize else {
            throw ModelError.invalidMetadata(key: name, reason: "tensor data is shorter than its shape")
        }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            Dequantization.dequantize(info.type, from: base, count: count, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// `vector` when the tensor exists, nil when it does not (a present but malformed tensor
    /// is still an error).
    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        file.tensor(named: name) == nil ? nil : try vector(name, count: count)
    }

    /// Loads the tensors every supported architecture shares, and the optional `parts` (each
    /// required when asked for).
    func loadDecoder(_ configuration: TransformerConfiguration, parts: DecoderParts = []) throws -> TransformerWeights {
        let biases = parts.contains(.projectionBiases), fusedGateUp = parts.contains(.fusedGateUp)
        let headNorms = parts.contains(.headNorms), postNorms = parts.contains(.postNorms)
        let headDimension = configuration.headDimension
        let width = configuration.embeddingLength
        let queryWidth = configuration.queryWidth
        let keyValueWidth = configuration.keyValueWidth
        let feedForward = configuration.feedForwardLength
        let vocabulary = configuration.vocabularySize
        var layers: [LayerWeights] = []
        layers.reserveCapacity(configuration.blockCount)
        for index in 0..<configuration.blockCount {
            let name = { (suffix: String) in "blk.\(index).\(suffix)" }
            let (query, key, value) = try projections(layer: index, configuration)
            let (gate, up) =
                fusedGateUp
                ? try halves(of: matrix(name("ffn_up.weight"), rows: 2 * feedForward, columns: width))
                : (
                    try matrix(name("ffn_gate.weight"), rows: feedForward, columns: width),
                    try matrix(name("ffn_up.weight"), rows: feedForward, columns: width)
                )
            layers.append(
                LayerWeights(
                    attentionNorm: try vector(name("attn_norm.weight"), count: width),
                    query: query, key: key, value: value,
                    queryBias: biases ? try vector(name("attn_q.bias"), count: queryWidth) : nil,
                    keyBias: biases ? try vector(name("attn_k.bias"), count: keyValueWidth) : nil,
                    valueBias: biases ? try vector(name("attn_v.bias"), count: keyValueWidth) : nil,
                    attentionOutput: try matrix(name("attn_output.weight"), rows: width, columns: queryWidth),
                    feedForwardNorm: try vector(name("ffn_norm.weight"), count: width),
                    gate: gate, up: up,
                    down: try matrix(name("ffn_down.weight"), rows: width, columns: feedForward),
                    queryNorm: headNorms ? try vector(name("attn_q_norm.weight"), count: headDimension) : nil,
                    keyNorm: headNorms ? try vector(name("attn_k_norm.weight"), count: headDimension) : nil,
                    postAttentionNorm: postNorms ? try vector(name("post_attention_norm.weight"), count: width) : nil,
                    postFeedForwardNorm: postNorms ? try vector(name("post_ffw_norm.weight"), count: width) : nil))
        }
        let embedding = try matrix("token_embd.weight", rows: vocabulary, columns: width)
        let tied = file.tensor(named: "output.weight") == nil
        let output = tied ? embedding : try matrix("output.weight", rows: vocabulary, columns: width)
        let pairs = configuration.ropeDimensionCount / 2
        return TransformerWeights(
            tokenEmbedding: embedding, layers: layers,
            outputNorm: try vector("output_norm.weight", count: width),
            output: output, outputIsTied: tied,
            ropeFrequencyFactors: try optionalVector("rope_freqs.weight", count: pairs) ?? [],
            ropeShortFactors: try optionalVector("rope_factors_short.weight", count: pairs) ?? [],
            ropeLongFactors: try optionalVector("rope_factors_long.weight", count: pairs) ?? [])
    }

    /// The Q, K and V projections of block `layer`: `attn_q`, `attn_k`, `attn_v`, or the rows of
    /// one fused `attn_qkv` in that order (llama.cpp's `create_tensor_qkv` takes either).
    private func projections(
        layer: Int, _ configuration: TransformerConfiguration
    ) throws -> (WeightMatrix, WeightMatrix, WeightMatrix) {
        let width = configuration.embeddingLength
        let queryWidth = configuration.queryWidth, keyValueWidth = configuration.keyValueWidth
        let fused = "blk.\(layer).attn_qkv.weight"
        guard file.tensor(named: fused) != nil else {
            return (
                try matrix("blk.\(layer).attn_q.weight", rows: queryWidth, columns: width),
                try matrix("blk.\(layer).attn_k.weight", rows: keyValueWidth, columns: width),
                try matrix("blk.\(layer).attn_v.weight", rows: keyValueWidth, columns: width)
            )
        }
        let qkv = try matrix(fused, rows: queryWidth + 2 * keyValueWidth, columns: width)
        return (
            qkv.rows(0..<queryWidth), qkv.rows(queryWidth..<queryWidth + keyValueWidth),
            qkv.rows(queryWidth + keyValueWidth..<queryWidth + 2 * keyValueWidth)
        )
    }

    /// The first and second halves of a fused gate/up matrix.
    private func halves(of matrix: WeightMatrix) -> (WeightMatrix, WeightMatrix) {
        let half = matrix.rows / 2
        return (matrix.rows(0..<half), matrix.rows(half..<matrix.rows))
    }
}
